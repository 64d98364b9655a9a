package bulk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"unsafe"

	"github.com/parquet-go/parquet-go"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
	"github.com/loan-scorer/loan-scorer/sink"
)

// csvFormat reads a CSV file with a header, cut into blocks of whole
// records (csvCut), and writes it back with the value columns and an
// error column (empty when the row was scored) appended, or as Parquet.
type csvFormat struct {
	blocks  blocks
	header  []string
	mapper  *ingest.CSVMapper
	valCols []string
	k       int // reasons per row (Options.Explain), in 2k columns
	opts    Options
	bw      *bufio.Writer
	// Parquet output: numeric[i] says whether CSV column i is a numeric
	// feature (a double column); pw writes the row groups.
	toParquet bool
	numeric   []bool
	pw        *parquet.GenericWriter[any]
	pool      chan *parquet.ConcurrentRowGroupWriter
	outRows   int
	window    int
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func openCSV(src *os.File, o Options, toParquet bool) (*csvFormat, error) {
	cr := &countingReader{r: src}
	br := bufio.NewReaderSize(cr, 1<<16)
	if err := ingest.SkipBOM(br); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	bom := cr.n - int64(br.Buffered())
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: CSV header: %w", ErrCorrupt, err)
	}
	if err := checkColumns(len(header), o.MaxColumns); err != nil {
		return nil, err
	}
	// The records start after the header (which may span lines): read on
	// from there, counting its lines for the records' line numbers.
	head := make([]byte, bom+r.InputOffset())
	if _, err := src.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	if _, err := src.Seek(int64(len(head)), io.SeekStart); err != nil {
		return nil, fmt.Errorf("seek input: %w", err)
	}
	f := &csvFormat{header: header, valCols: valueColumns(o.Model), k: o.Explain, opts: o, toParquet: toParquet}
	f.blocks = blocks{r: src, size: o.BlockBytes, cut: csvCut, lines: bytes.Count(head, []byte{'\n'})}
	if !o.CopyThrough {
		if f.mapper, err = ingest.NewCSVMapper(header, o.Model.Schema(), o.Schema); err != nil {
			return nil, err
		}
	}
	for _, c := range append(append(append(slices.Clone(f.valCols), extraColumns(o)...), ReasonColumns(f.k)...), errorColumn) {
		if slices.Contains(header, c) {
			return nil, fmt.Errorf("the input already has a column %q (an output column): rename it", c)
		}
	}
	columns := 0
	if toParquet {
		columns = len(header) + len(f.valCols) + len(extraColumns(o)) + 2*f.k + 1
		f.outRows = outputRowGroupRows(o.RowGroupRows, columns)
	}
	f.window = windowFor(o.Workers, columns)
	return f, nil
}

func (f *csvFormat) total() (int64, bool) { return 0, false }

func (f *csvFormat) start(w io.Writer) error {
	if f.toParquet {
		return f.startParquet(w)
	}
	f.bw = bufio.NewWriterSize(w, 1<<20)
	cw := csv.NewWriter(f.bw)
	if err := cw.Write(append(append(append(append(slices.Clone(f.header), f.valCols...), extraColumns(f.opts)...), ReasonColumns(f.k)...), errorColumn)); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func (f *csvFormat) plan() (window, workers int) { return f.window, min(f.opts.Workers, f.window) }

func (f *csvFormat) rowGroups() chan *parquet.ConcurrentRowGroupWriter { return f.pool }

func (f *csvFormat) next(u *unit) (err error) {
	u.block, u.line, err = f.blocks.next(u.block)
	if err == nil && f.toParquet {
		u.writers = 1 // a block of more records than a row group takes turns with it
	}
	return err
}

func (f *csvFormat) work() (work, error) {
	return &csvWork{f: f, rows: newTextRows(f.opts), vals: make([]parquet.Value, f.opts.Batch)}, nil
}

func (f *csvFormat) commit(u *unit) error {
	if f.toParquet {
		return nil
	}
	_, err := f.bw.Write(u.text)
	return err
}

func (f *csvFormat) finish() error {
	if f.toParquet {
		if err := f.pw.Close(); err != nil {
			return fmt.Errorf("parquet footer: %w", err)
		}
		return nil
	}
	return f.bw.Flush()
}

// csvWork is one worker's state for CSV.
type csvWork struct {
	f       *csvFormat
	rows    textRows
	reader  csvRecords
	fields  []string   // the batch's fields
	ends    []int      // where each record's fields end
	records [][]string // the batch's records, in fields
	raws    [][]byte   // the batch's records as they were in the input
	vals    []parquet.Value
	// Parquet output: the unit's row group being filled, and its rows.
	rg   *parquet.ConcurrentRowGroupWriter
	inRG int
}

func (w *csvWork) process(ctx context.Context, u *unit) error {
	w.reader.reset(u.block, u.line)
	out := u.text[:0]
	w.rg, w.inRG = nil, 0
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			return err
		}
		w.fields, w.raws = w.fields[:0], w.raws[:0]
		for len(w.raws) < w.f.opts.Batch {
			fields, raw, err := w.reader.next(w.fields)
			if errors.Is(err, io.EOF) {
				done = true
				break
			}
			if err != nil {
				return err
			}
			w.fields = fields
			w.raws = append(w.raws, raw)
			w.ends = append(w.ends[:len(w.raws)-1], len(w.fields))
		}
		if len(w.raws) == 0 {
			break
		}
		w.records = w.records[:0]
		for i, end := range w.ends[:len(w.raws)] {
			start := 0
			if i > 0 {
				start = w.ends[i-1]
			}
			w.records = append(w.records, w.fields[start:end:end])
		}
		err := w.rows.score(len(w.records), func(r int, b *model.Batch) string {
			floats, cats := b.AppendRow()
			if p := w.f.mapper.Fill(w.records[r], floats, cats); p != "" {
				dropLastRow(b)
				return p
			}
			return ""
		}, u)
		if err != nil {
			return err
		}
		if w.f.toParquet {
			if err := w.writeParquet(ctx, u); err != nil {
				return err
			}
		} else {
			out = w.writeCSV(out)
		}
		u.rows += int64(len(w.records))
		u.errors += w.rows.failed
	}
	u.text = out
	if w.f.toParquet && w.rg != nil {
		return u.send(w.rg)
	}
	return nil
}

// writeCSV appends the batch's records, as they were in the input, with
// their values, reasons and problems.
func (w *csvWork) writeCSV(buf []byte) []byte {
	width := len(w.f.valCols)
	for r, raw := range w.raws {
		buf = append(buf, raw...)
		p := w.rows.problems[r]
		for j := range width {
			buf = append(buf, ',')
			if p == "" {
				buf = strconv.AppendFloat(buf, w.rows.out[r*width+j], 'g', -1, 64)
			}
		}
		if w.f.opts.ModelColumn {
			buf = append(buf, ',')
			buf = appendCSVField(buf, w.f.opts.Model.Version)
		}
		if w.f.k > 0 {
			var n *reason.Note
			if r < len(w.rows.notes) {
				n = &w.rows.notes[r]
			}
			buf = appendReasonCSV(buf, n, w.f.k)
		}
		buf = append(buf, ',')
		buf = appendCSVField(buf, p)
		buf = append(buf, '\n')
	}
	return buf
}

// startParquet types the output columns: a numeric feature's column is a
// nullable double (empty or unparsable cells are null), every other column
// a nullable string, then the value columns, the reason columns and the
// error column.
func (f *csvFormat) startParquet(w io.Writer) error {
	codec, err := sink.FastCodec(f.opts.Compression)
	if err != nil {
		return err
	}
	s := f.opts.Model.Schema()
	f.numeric = make([]bool, len(f.header))
	fields := make([]parquet.Field, 0, len(f.header)+len(f.valCols)+2*f.k+1)
	for i, h := range f.header {
		node := parquet.Optional(parquet.String())
		if ft, ok := s.Lookup(h); ok && ft.Kind == model.Float {
			f.numeric[i] = true
			node = parquet.Optional(parquet.Leaf(parquet.DoubleType))
		}
		fields = append(fields, &field{Node: node, name: h})
	}
	for _, name := range f.valCols {
		fields = append(fields, &field{Node: parquet.Optional(parquet.Leaf(parquet.DoubleType)), name: name})
	}
	for _, name := range extraColumns(f.opts) {
		fields = append(fields, &field{Node: parquet.String(), name: name})
	}
	fields = append(fields, reasonFields(f.k)...)
	fields = append(fields, &field{Node: parquet.Optional(parquet.String()), name: errorColumn})
	schema := parquet.NewSchema("scored", &group{fields: fields})
	opts := append(outputOptions(codec, f.opts.RowGroupRows, len(fields), f.window, f.opts.Model.Version), schema)
	f.pw = parquet.NewGenericWriter[any](w, opts...)
	f.pool = make(chan *parquet.ConcurrentRowGroupWriter, f.window)
	for range f.window {
		f.pool <- f.pw.BeginRowGroup()
	}
	return nil
}

// writeParquet writes the batch's records as typed columns, one column at
// a time, into the unit's row group (sent on when it is full).
func (w *csvWork) writeParquet(ctx context.Context, u *unit) error {
	for start := 0; start < len(w.records); {
		if w.rg == nil {
			var err error
			if w.rg, err = u.take(ctx); err != nil {
				return err
			}
			w.inRG = 0
		}
		n := min(len(w.records)-start, w.f.outRows-w.inRG)
		if err := w.columns(start, n); err != nil {
			return err
		}
		start += n
		w.inRG += n
		if w.inRG == w.f.outRows {
			if err := u.send(w.rg); err != nil {
				return err
			}
			w.rg = nil
		}
	}
	return nil
}

// columns writes records [start, start+n) of the batch into w.rg.
func (w *csvWork) columns(start, n int) error {
	cols := w.rg.ColumnWriters()
	vs := w.vals[:n]
	for i := range w.f.header {
		for k := range n {
			rec := w.records[start+k]
			switch {
			case i >= len(rec):
				vs[k] = parquet.NullValue().Level(0, 0, i)
			case !w.f.numeric[i]:
				vs[k] = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(rec[i]), len(rec[i]))).Level(0, 1, i)
			default:
				v, err := strconv.ParseFloat(rec[i], 64)
				if rec[i] == "" || err != nil {
					vs[k] = parquet.NullValue().Level(0, 0, i)
				} else {
					vs[k] = parquet.DoubleValue(v).Level(0, 1, i)
				}
			}
		}
		if _, err := cols[i].WriteRowValues(vs); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	width := len(w.f.valCols)
	for j := range width {
		col := len(w.f.header) + j
		for k := range n {
			if w.rows.problems[start+k] != "" {
				vs[k] = parquet.NullValue().Level(0, 0, col)
			} else {
				vs[k] = parquet.DoubleValue(w.rows.out[(start+k)*width+j]).Level(0, 1, col)
			}
		}
		if _, err := cols[col].WriteRowValues(vs); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	col := len(w.f.header) + width
	if w.f.opts.ModelColumn {
		if err := writeModelColumn(cols[col], vs, w.f.opts.Model.Version, col, n); err != nil {
			return err
		}
		col++
	}
	var notes []reason.Note
	if len(w.rows.notes) > start {
		notes = w.rows.notes[start:]
	}
	for j := range 2 * w.f.k {
		reasonValues(vs, notes, j, col)
		if _, err := cols[col].WriteRowValues(vs); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		col++
	}
	for k := range n {
		if p := w.rows.problems[start+k]; p != "" {
			vs[k] = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(p), len(p))).Level(0, 1, col)
		} else {
			vs[k] = parquet.NullValue().Level(0, 0, col)
		}
	}
	if _, err := cols[col].WriteRowValues(vs); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
