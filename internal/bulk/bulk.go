package bulk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"

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
	// Batch is the rows a worker decodes and scores at once (default
	// 4096): one model.Batch, and one column's values at a time.
	Batch int
	// Workers is the number of goroutines that decode, score and encode
	// (default GOMAXPROCS); a wide Parquet file may get fewer.
	Workers int
	// Compression of a Parquet output: zstd (default), snappy, gzip, none.
	Compression string
	// RowGroupRows bounds an output row group (default 128Ki; fewer rows
	// for a wide output). Output row groups are the units of the pipeline.
	RowGroupRows int
	// BlockBytes is the size of a unit of CSV or JSON lines input
	// (default 2 MiB): whole records, so a longer record makes a longer
	// block.
	BlockBytes int
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
	// ModelColumn adds a string column "model" (JSON lines: a "model"
	// field) holding Model.Version on every row, after the value columns:
	// each row names the model that scored it, as async results do.
	ModelColumn bool
	// Total, when set, is called once with the number of input rows when
	// the input tells it up front (Parquet), before any progress.
	Total func(rows int64)
	// Progress, when set, is called from the committer after each unit
	// with the rows written so far.
	Progress func(rows int64)

	// ranker notes the scored rows (reasons, unseen values); set by
	// ScoreFile, nil when the run notes nothing.
	ranker *reason.Ranker
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
	if o.ranker, err = newRanker(o); err != nil {
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
	wb := newWriteBack(tmp, o.Workers > 1)
	defer wb.close()
	if err := f.start(wb); err != nil {
		return Stats{}, err
	}
	st, err := run(ctx, f, o)
	if err != nil {
		return st, fmt.Errorf("%s: %w", in, err)
	}
	if err := f.finish(); err != nil {
		return st, fmt.Errorf("write %s: %w", out, err)
	}
	if err := wb.close(); err != nil {
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
	if o.BlockBytes <= 0 {
		o.BlockBytes = textBlock
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

// modelColumn is the name of the column Options.ModelColumn adds.
const modelColumn = "model"

// extraColumns are the output columns between the value columns and the
// error column: the model column when asked for.
func extraColumns(o Options) []string {
	if o.ModelColumn {
		return []string{modelColumn}
	}
	return nil
}

// writeModelColumn writes n rows of the model's version into column col
// of a row group (a required string column), using vs as scratch.
func writeModelColumn(cw *parquet.ColumnWriter, vs []parquet.Value, version string, col, n int) error {
	v := unsafe.Slice(unsafe.StringData(version), len(version))
	for r := range vs[:n] {
		vs[r] = parquet.ByteArrayValue(v).Level(0, 0, col)
	}
	if _, err := cw.WriteRowValues(vs[:n]); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// dropLastRow removes the row AppendRow added last.
func dropLastRow(b *model.Batch) {
	b.Rows--
	clear(b.Cats[b.Rows*b.NumCat:])
	b.Floats = b.Floats[:b.Rows*b.NumFloat]
	b.Cats = b.Cats[:b.Rows*b.NumCat]
}

// nan is the value of a row that could not be scored.
var nan = math.NaN()
