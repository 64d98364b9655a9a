package bulk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
	"github.com/loan-scorer/loan-scorer/sink"
)

// blocks cuts a text input into blocks of whole records, of about size
// bytes (more for a record longer than that), in the dispatcher. cut
// returns the end of the last whole record in b (after its line end), 0
// when b holds none.
type blocks struct {
	r     io.Reader
	size  int
	cut   func(b []byte) int
	carry []byte // read past the last cut
	lines int    // line ends before the next block
	eof   bool
}

// next fills dst with the next block, reusing its storage, and returns it
// with the number of lines before it; io.EOF at the end.
func (bl *blocks) next(dst []byte) ([]byte, int, error) {
	dst = append(dst[:0], bl.carry...)
	want := bl.size
	for {
		for !bl.eof && len(dst) < want {
			dst = slices.Grow(dst, want-len(dst))
			n, err := bl.r.Read(dst[len(dst):cap(dst)])
			dst = dst[:len(dst)+n]
			if errors.Is(err, io.EOF) {
				bl.eof = true
			} else if err != nil {
				return nil, 0, fmt.Errorf("read input: %w", err)
			}
		}
		end := bl.cut(dst)
		if end == 0 && bl.eof {
			end = len(dst) // the last record, without a line end
		}
		if end > 0 {
			bl.carry = append(bl.carry[:0], dst[end:]...)
			line := bl.lines
			bl.lines += bytes.Count(dst[:end], []byte{'\n'})
			return dst[:end], line, nil
		}
		if len(dst) == 0 {
			return nil, 0, io.EOF
		}
		want = 2 * len(dst) // one record longer than the block so far
	}
}

// lineCut cuts after the last line end: JSON lines (a JSON string cannot
// hold a raw line end, so every line end ends a record).
func lineCut(b []byte) int { return bytes.LastIndexByte(b, '\n') + 1 }

// csvCut cuts after the last line end outside a quoted field. A block
// starts at a record's start, outside quotes; a quote opens or closes a
// quoted field ("" inside one closes and reopens it, which leaves the
// state as it was), so the count of quotes before a line end says whether
// it is inside a field. That is exact for every file encoding/csv reads
// without error; a bare quote in an unquoted field, which it refuses, is
// refused all the same: the block holding it starts where it should and
// fails to parse there.
func csvCut(b []byte) int {
	last, inQuotes := 0, false
	nextQuote := -1 // index of the next quote at or after i, len(b) for none
	for i := 0; i < len(b); {
		if nextQuote < i {
			nextQuote = len(b)
			if q := bytes.IndexByte(b[i:], '"'); q >= 0 {
				nextQuote = i + q
			}
		}
		if inQuotes {
			if nextQuote == len(b) {
				break
			}
			i, inQuotes = nextQuote+1, false
			continue
		}
		nl := bytes.IndexByte(b[i:nextQuote], '\n')
		if nl < 0 {
			if nextQuote == len(b) {
				break
			}
			i, inQuotes = nextQuote+1, true
			continue
		}
		i = i + nl + 1
		last = i
	}
	return last
}

// jsonlFormat reads JSON lines (one application per line, decoded by the
// JSON path's own decoder; the lines of ingest.Lines) and writes each
// object back with the value field added, or with "error" for a line that
// could not be scored.
type jsonlFormat struct {
	blocks blocks
	dec    *ingest.Decoder
	opts   Options
	out    io.Writer
	// explain: lines get "reasons" (Options.Explain > 0).
	explain bool
	// keys holds per value column its name as a JSON string and ':',
	// after a ',' but for the first column's.
	keys [][]byte
	// lineExtra is about what a line grows by: ',', the keys and a
	// float of up to 24 bytes per column.
	lineExtra int
}

func openJSONL(src *os.File, o Options) (*jsonlFormat, error) {
	br := bufio.NewReaderSize(src, 1<<16)
	if err := ingest.SkipBOM(br); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	cols := valueColumns(o.Model)
	keys := make([][]byte, len(cols))
	for j, name := range cols {
		if j > 0 {
			keys[j] = append(keys[j], ',')
		}
		keys[j] = append(sink.AppendString(keys[j], name), ':')
	}
	extra := 2
	for _, k := range keys {
		extra += len(k) + 24
	}
	return &jsonlFormat{
		lineExtra: extra,
		blocks:    blocks{r: br, size: o.BlockBytes, cut: lineCut},
		// A line's categories may share the block: a unit's rows are
		// scored and written back in process, and its block is read into
		// again only once the committer has written the unit.
		dec:     ingest.NewSharingDecoder(o.Model.Schema(), o.Schema, o.Limits),
		keys:    keys,
		explain: o.Explain > 0,
		opts:    o,
	}, nil
}

func (f *jsonlFormat) total() (int64, bool) { return 0, false }

func (f *jsonlFormat) start(w io.Writer) error {
	f.out = w
	return nil
}

func (f *jsonlFormat) plan() (window, workers int) {
	window = windowFor(f.opts.Workers, 0)
	return window, min(f.opts.Workers, window)
}

func (f *jsonlFormat) rowGroups() chan *parquet.ConcurrentRowGroupWriter { return nil }

func (f *jsonlFormat) next(u *unit) (err error) {
	u.block, u.line, err = f.blocks.next(u.block)
	return err
}

func (f *jsonlFormat) work() (work, error) { return &jsonlWork{f: f, rows: newTextRows(f.opts)}, nil }

// commit writes a unit's lines (a block's worth, megabytes) straight to
// the output: a buffer in between would only copy them.
func (f *jsonlFormat) commit(u *unit) error {
	_, err := f.out.Write(u.text)
	return err
}

func (f *jsonlFormat) finish() error { return nil }

// jsonlWork is one worker's state for JSON lines.
type jsonlWork struct {
	f     *jsonlFormat
	rows  textRows
	lines [][]byte
}

func (w *jsonlWork) process(ctx context.Context, u *unit) error {
	w.lines = w.lines[:0]
	_ = ingest.EachLine(u.block, func(line []byte, _ int) error {
		w.lines = append(w.lines, line)
		return nil
	})
	// The output is the input with the values added: room for it at once
	// rather than growing (and copying) it while writing.
	u.text = slices.Grow(u.text[:0], len(u.block)+len(w.lines)*w.f.lineExtra)
	for start := 0; start < len(w.lines); start += w.f.opts.Batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		lines := w.lines[start:min(start+w.f.opts.Batch, len(w.lines))]
		err := w.rows.score(len(lines), func(r int, b *model.Batch) string { return w.decode(lines[r], b) }, u)
		if err != nil {
			return err
		}
		u.text = w.write(u.text, lines)
		u.rows += int64(len(lines))
		u.errors += w.rows.failed
	}
	return nil
}

func (w *jsonlWork) decode(line []byte, b *model.Batch) string {
	err := w.f.dec.DecodeOne(line, b)
	if err == nil {
		return ""
	}
	var ie *ingest.InputError
	if !errors.As(err, &ie) || len(ie.Fields) == 0 {
		return err.Error()
	}
	// Every field, in the form the Parquet and CSV paths use.
	names := make([]string, 0, len(ie.Fields))
	for n := range ie.Fields {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + ie.Fields[n]
	}
	return ie.Code + ": " + strings.Join(parts, ", ")
}

// write appends the lines with their values (or errors) to buf.
func (w *jsonlWork) write(buf []byte, lines [][]byte) []byte {
	width := len(w.f.keys)
	for r, line := range lines {
		isObject := len(line) >= 2 && line[0] == '{' && line[len(line)-1] == '}'
		if isObject {
			buf = append(buf, line[:len(line)-1]...)
			if len(bytes.TrimSpace(line[1:len(line)-1])) > 0 {
				buf = append(buf, ',')
			}
		} else {
			buf = append(buf, '{')
		}
		if p := w.rows.problems[r]; p != "" {
			buf = append(buf, `"error":`...)
			buf = sink.AppendString(buf, p)
		} else {
			for j, key := range w.f.keys {
				buf = append(buf, key...)
				buf = sink.AppendFloat(buf, w.rows.out[r*width+j])
			}
			if w.f.explain && r < len(w.rows.notes) {
				// The reasons as a result body has them; the unseen
				// values are counted in the run's summary instead.
				n := &w.rows.notes[r]
				buf = sink.AppendNote(buf, &reason.Note{Asked: n.Asked, Reasons: n.Reasons, Err: n.Err})
			}
		}
		if w.f.opts.ModelColumn {
			buf = append(buf, `,"model":`...)
			buf = sink.AppendString(buf, w.f.opts.Model.Version)
		}
		buf = append(buf, '}', '\n')
	}
	return buf
}

// textRows scores a batch of text records (CSV or JSON lines), row by
// row decoded into the model's batch: a row that cannot be decoded is
// left out of it, and gets its problem and NaN values.
type textRows struct {
	o        Options
	width    int
	batch    *model.Batch
	pred     []float64
	idx      []int
	problems []string
	out      []float64 // rows × width
	failed   int64     // rows with a problem in the last batch
	// noter notes the scored rows (nil when the run notes nothing) into
	// notes, by row of the last batch (a row with a problem: none).
	noter *noter
	notes []reason.Note
}

func newTextRows(o Options) textRows {
	w := o.Model.Width()
	return textRows{
		o:        o,
		width:    w,
		batch:    model.NewBatch(o.Model.Schema(), o.Batch),
		pred:     make([]float64, o.Batch*w),
		problems: make([]string, o.Batch),
		out:      make([]float64, o.Batch*w),
		noter:    newNoter(o),
	}
}

// score decodes n rows with decode (which appends row r to b, or returns
// its problem with b unchanged), predicts them into t.out and notes them
// into t.notes, counting their unseen values in u.
func (t *textRows) score(n int, decode func(r int, b *model.Batch) string, u *unit) error {
	out := t.out[:n*t.width]
	t.failed = 0
	if t.o.CopyThrough {
		for i := range out {
			out[i] = 0.5
		}
		clear(t.problems[:n])
		return nil
	}
	b := t.batch
	b.Reset()
	t.idx = t.idx[:0]
	for r := range n {
		p := decode(r, b)
		t.problems[r] = p
		if p == "" {
			t.idx = append(t.idx, r)
		} else {
			t.failed++
		}
	}
	if b.Rows > 0 {
		if err := t.noter.predict(t.o.Model, b, t.pred[:b.Rows*t.width]); err != nil {
			return fmt.Errorf("predict: %w", err)
		}
	}
	for i := range out {
		out[i] = nan
	}
	for i, r := range t.idx {
		copy(out[r*t.width:(r+1)*t.width], t.pred[i*t.width:(i+1)*t.width])
	}
	if err := t.note(n, u); err != nil {
		return err
	}
	b.Reset()
	return nil
}

// note notes the batch's scored rows, counting their unseen values in u,
// and keeps their notes, when they have reasons, in t.notes[:n] by input
// row (empty otherwise).
func (t *textRows) note(n int, u *unit) error {
	if t.noter == nil {
		return nil
	}
	clear(t.notes)
	t.notes = t.notes[:0]
	if t.batch.Rows == 0 {
		return nil
	}
	notes, err := t.noter.annotate(t.batch, nil, u)
	if err != nil || notes == nil {
		return err
	}
	t.notes = slices.Grow(t.notes, n)[:n]
	for i, r := range t.idx {
		t.notes[r] = notes[i]
	}
	return nil
}
