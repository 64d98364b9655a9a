package bulk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
	"github.com/loan-scorer/loan-scorer/sink"
)

// Options configure one bulk run.
type Options struct {
	// Model scores the rows (its Prediction is what is written).
	Model *model.Loaded
	// Schema holds the category rules (bool_as); zero uses the defaults.
	Schema ingest.SchemaConfig
	// Limits bound one JSON line; zero uses the defaults.
	Limits ingest.Limits
	// Batch is the rows per chunk at most (default 4096); wide rows make
	// chunks smaller, so that memory does not grow with the column count.
	Batch int
	// Workers is the number of scoring goroutines (default GOMAXPROCS).
	Workers int
	// Compression of a Parquet output: zstd (default), snappy, gzip, none.
	Compression string
	// RowGroupRows bounds an output row group (default 128Ki; fewer rows
	// for a wide output).
	RowGroupRows int
	// MaxColumns is the most columns a Parquet or CSV input may have
	// (default DefaultMaxColumns); a wider one is refused with ErrTooWide
	// before any output exists.
	MaxColumns int
	// MaxPageBytes bounds the decompressed pages a Parquet input makes the
	// reader hold at once, estimated from its footer (default
	// DefaultMaxPageBytes); a file over it is refused with ErrTooWide.
	MaxPageBytes int64
	// Explain is how many reasons each scored row gets, in 2×Explain
	// columns after the value columns (ReasonColumns; a JSON line gets
	// "reasons" as a result body does); 0 adds none. At most the model's
	// feature count; a model that cannot explain is refused before any
	// output exists.
	Explain int
	// Codes sums the reasons' features per reason code (nil: a reason per
	// feature); a code naming a feature the model lacks is refused.
	Codes *reason.Codes
	// CopyThrough replaces scoring (mapping and prediction) by a constant
	// 0.5: the same reading and writing, to measure what they cost.
	CopyThrough bool
	// Total, when set, is called once with the number of input rows when
	// the input tells it up front (Parquet), before any progress.
	Total func(rows int64)
	// Progress, when set, is called from the writer after each chunk with
	// the rows written so far.
	Progress func(rows int64)
}

// Stats summarise a run.
type Stats struct {
	// Rows written, Errors among them (rows the model could not take).
	Rows, Errors int64
	Elapsed      time.Duration
	// Unseen counts, per categorical feature of the model in flat order,
	// the scored rows whose value of it the model never saw; nil when the
	// model cannot tell (only CatBoost models can).
	Unseen []Unseen
}

// RowsPerSecond is Rows over Elapsed.
func (s Stats) RowsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Rows) / s.Elapsed.Seconds()
}

const (
	defBatch   = 4096
	maxBatch   = 1 << 20
	tmpPattern = ".scored-*.tmp"
)

// ScoreFile scores the file in into out. The output format is the input's
// (Parquet, CSV or JSON lines), or Parquet from a CSV input: the model's
// numeric features become nullable double columns, every other column a
// nullable string, then the value and error columns. The columns are checked against the model before out is created;
// out appears (by rename) only when complete.
func ScoreFile(ctx context.Context, in, out string, o Options) (Stats, error) {
	start := time.Now()
	o = o.withDefaults()
	if o.Model == nil {
		return Stats{}, errors.New("bulk: no model")
	}
	inFmt, err := ingest.FileFormatOf(in)
	if err != nil {
		return Stats{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	outFmt, err := ingest.FileFormatOf(out)
	if err != nil {
		return Stats{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if inFmt != outFmt && (inFmt != ingest.CSV || outFmt != ingest.Parquet) {
		return Stats{}, fmt.Errorf("%s input writes %s output (or Parquet from CSV): name the output %s: %w", inFmt, inFmt, "*."+string(inFmt), ErrFormat)
	}
	ranker, err := newRanker(o)
	if err != nil {
		return Stats{}, err
	}
	if abs(in) == abs(out) {
		return Stats{}, fmt.Errorf("output %s is the input", out)
	}
	src, err := os.Open(in)
	if err != nil {
		return Stats{}, fmt.Errorf("open input: %w", err)
	}
	defer src.Close()
	var f format
	switch inFmt {
	case ingest.Parquet:
		f, err = openParquet(src, o)
	case ingest.CSV:
		f, err = openCSV(src, o, outFmt == ingest.Parquet)
	default:
		f, err = openJSONL(src, o)
	}
	if err != nil {
		return Stats{}, fmt.Errorf("%s: %w", in, err)
	}
	if o.Total != nil {
		if n, ok := f.total(); ok {
			o.Total(n)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), tmpPattern)
	if err != nil {
		return Stats{}, fmt.Errorf("create output: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := f.start(tmp); err != nil {
		return Stats{}, err
	}
	st, err := run(ctx, f, o, ranker)
	if err != nil {
		return st, fmt.Errorf("%s: %w", in, err)
	}
	if err := f.finish(); err != nil {
		return st, fmt.Errorf("write %s: %w", out, err)
	}
	if err := tmp.Sync(); err != nil {
		return st, fmt.Errorf("fsync %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return st, fmt.Errorf("close %s: %w", out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return st, fmt.Errorf("chmod %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return st, fmt.Errorf("rename to %s: %w", out, err)
	}
	committed = true
	st.Elapsed = time.Since(start)
	return st, nil
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func (o Options) withDefaults() Options {
	if o.Batch <= 0 {
		o.Batch = defBatch
	}
	o.Batch = min(o.Batch, maxBatch)
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Compression == "" {
		o.Compression = "zstd"
	}
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = 128 * 1024
	}
	if o.MaxColumns <= 0 {
		o.MaxColumns = DefaultMaxColumns
	}
	if o.MaxPageBytes <= 0 {
		o.MaxPageBytes = DefaultMaxPageBytes
	}
	if len(o.Schema.BoolAs) != 2 {
		o.Schema = ingest.DefaultSchemaConfig()
	}
	if o.Limits.MaxPayload == 0 {
		o.Limits = ingest.DefaultLimits()
	}
	return o
}

// valueColumns returns the names of the output value columns: the result
// body's field for a one-value model, <field>_<i> per value otherwise.
func valueColumns(m *model.Loaded) []string {
	name, _ := sink.ValueField(m)
	w := m.Width()
	if w == 1 {
		return []string{name}
	}
	cols := make([]string, w)
	for i := range cols {
		cols[i] = fmt.Sprintf("%s_%d", name, i)
	}
	return cols
}

// format reads one input format and writes the same format.
type format interface {
	// total returns the number of input rows when known up front.
	total() (int64, bool)
	// start begins the output in w.
	start(w *os.File) error
	// width is the number of values one input row holds in a chunk (its
	// columns in and out), which sizes the chunks.
	width() int
	// read fills c with rows up to lim; it returns io.EOF (and no rows) at
	// the end. It runs in the reader goroutine only.
	read(c *chunk, lim chunkLimits) error
	// decode appends row r of c to b, or returns the row's problem with b
	// unchanged. It runs concurrently on different chunks.
	decode(c *chunk, r int, b *model.Batch) string
	// write writes c's rows with their values (c.out, NaN where
	// c.problems is set). It runs in the writer goroutine only, in order.
	write(c *chunk) error
	// finish completes the output (a Parquet footer).
	finish() error
}

// chunk is a run of consecutive input rows and their outputs.
type chunk struct {
	seq      int
	n        int
	problems []string
	out      []float64 // n × width
	// notes are the scored rows' notes (empty when the run notes
	// nothing); unseen counts their unseen values per categorical feature.
	notes  []reason.Note
	unseen []int64
	// Format-specific storage, reused from chunk to chunk.
	pq   parquetRows
	text textRows
}

// dropLastRow removes the row AppendRow added last.
func dropLastRow(b *model.Batch) {
	b.Rows--
	clear(b.Cats[b.Rows*b.NumCat:])
	b.Floats = b.Floats[:b.Rows*b.NumFloat]
	b.Cats = b.Cats[:b.Rows*b.NumCat]
}

// run streams the input through the pipeline.
func run(ctx context.Context, f format, o Options, ranker *reason.Ranker) (Stats, error) {
	width := o.Model.Width()
	nChunks := 2*o.Workers + 2
	lim := limitsFor(o.Batch, f.width(), nChunks)
	free := make(chan *chunk, nChunks)
	for range nChunks {
		free <- &chunk{problems: make([]string, lim.rows), out: make([]float64, lim.rows*width)}
	}
	todo := make(chan *chunk, nChunks)
	done := make(chan *chunk, nChunks)
	g, ctx := errgroup.WithContext(ctx)
	var st Stats
	var unseen []int64
	if ranker != nil && ranker.ReportsUnseen() {
		names := unseenFeatures(o.Model.Schema())
		unseen = make([]int64, len(names))
		for _, name := range names {
			st.Unseen = append(st.Unseen, Unseen{Feature: name})
		}
	}

	g.Go(func() error { // reader
		defer close(todo)
		for seq := 0; ; seq++ {
			var c *chunk
			select {
			case c = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
			c.seq, c.n = seq, 0
			err := safeRead(f, c, lim)
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			if c.n > 0 {
				select {
				case todo <- c:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if err != nil {
				return nil // io.EOF
			}
		}
	})
	scorers, sctx := errgroup.WithContext(ctx)
	for range o.Workers {
		scorers.Go(func() error {
			s := o.Model.Schema()
			b := model.NewBatch(s, lim.rows)
			pred := make([]float64, lim.rows*width)
			idx := make([]int, 0, lim.rows)
			n := newNoter(ranker, o.Explain, s)
			for c := range todo {
				if err := score(f, c, o, b, pred, idx[:0], width, n); err != nil {
					return err
				}
				select {
				case done <- c:
				case <-sctx.Done():
					return sctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		err := scorers.Wait()
		close(done)
		return err
	})
	g.Go(func() error { // ordered writer
		pending := map[int]*chunk{}
		next := 0
		for c := range done {
			pending[c.seq] = c
			for {
				c, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				next++
				if err := f.write(c); err != nil {
					return fmt.Errorf("write output: %w", err)
				}
				st.Rows += int64(c.n)
				for i, k := range c.unseen {
					if i < len(unseen) {
						unseen[i] += k
					}
				}
				for _, p := range c.problems[:c.n] {
					if p != "" {
						st.Errors++
					}
				}
				if o.Progress != nil {
					o.Progress(st.Rows)
				}
				free <- c
			}
		}
		return nil
	})
	err := g.Wait()
	for i := range st.Unseen {
		st.Unseen[i].Rows = unseen[i]
	}
	return st, err
}

// safeRead turns a panic of the input decoder (a corrupt file can reach
// code that does not expect it) into an error.
func safeRead(f format, c *chunk, lim chunkLimits) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	c.n = 0
	return f.read(c, lim)
}

// score maps and predicts one chunk into c.out.
func score(f format, c *chunk, o Options, b *model.Batch, pred []float64, idx []int, width int, n *noter) error {
	out := c.out[:c.n*width]
	if o.CopyThrough {
		b.Reset()
		if err := n.annotate(c, b, nil); err != nil { // no notes
			return err
		}
		for i := range out {
			out[i] = 0.5
		}
		clear(c.problems[:c.n])
		return nil
	}
	b.Reset()
	for r := range c.n {
		p := f.decode(c, r, b)
		c.problems[r] = p
		if p == "" {
			idx = append(idx, r)
		}
	}
	if b.Rows > 0 {
		if err := o.Model.Predict(b, o.Model.Prediction, pred[:b.Rows*width]); err != nil {
			return fmt.Errorf("predict: %w", err)
		}
	}
	for i := range out {
		out[i] = math.NaN()
	}
	for i, r := range idx {
		copy(out[r*width:(r+1)*width], pred[i*width:(i+1)*width])
	}
	if err := n.annotate(c, b, idx); err != nil {
		return err
	}
	b.Reset()
	return nil
}
