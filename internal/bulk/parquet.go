package bulk

import (
	"fmt"
	"io"
	"os"
	"reflect"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/sink"
)

// errorColumn is the output column holding why a row could not be scored
// (null when it was). A Parquet output has it only when the input's schema
// can make a row fail (a nullable categorical column); without it, a row
// that cannot be scored all the same (a NaN in a float column) stops the
// run with ErrUnscorableRow, naming the row, and no output appears.
const errorColumn = "error"

// piece is rows [lo, hi) of input row group rg.
type piece struct {
	rg     int
	lo, hi int64
}

// parquetFormat scores a Parquet file column by column: a unit is up to
// one output row group of consecutive input rows (pieces of one or more
// input row groups), which a worker decodes page by page into its batch
// and encodes into its own row-group writer.
type parquetFormat struct {
	file    *parquet.File
	convs   []*ingest.ColumnConverter // by input leaf column; nil where the model reads none
	opts    Options
	nInCols int

	schema   *parquet.Schema
	valCols  []string
	k        int  // reasons per row (Options.Explain), in 2k columns
	optional bool // value columns nullable (rows can fail)
	errCol   bool
	w        *parquet.GenericWriter[any]
	pool     chan *parquet.ConcurrentRowGroupWriter
	window   int
	workers  int

	// Planning, in the dispatcher.
	outRows  int64  // rows of an output row group at most
	seekable []bool // by row group: every column has an offset index
	rg       int    // next row group to plan
	pos      int64  // its next row
	planned  int64  // rows planned so far
	repeated []bool // by input leaf column
}

func openParquet(src *os.File, o Options) (f *parquetFormat, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	fi, err := src.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	file, err := parquet.OpenFile(src, fi.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	leaves := file.Schema().Columns()
	f = &parquetFormat{file: file, opts: o, nInCols: len(leaves)}
	if err := checkColumns(f.nInCols, o.MaxColumns); err != nil {
		return nil, err
	}
	held, err := checkPages(file.Metadata(), o.MaxPageBytes)
	if err != nil {
		return nil, err
	}
	// Each worker holds a page of every column of its row group.
	f.workers = min(o.Workers, max(int(o.MaxPageBytes/max(held, 1)), 1))
	f.convs = make([]*ingest.ColumnConverter, f.nInCols)
	if !o.CopyThrough {
		mapper, err := ingest.NewParquetMapper(file.Schema(), o.Model.Schema(), o.Schema)
		if err != nil {
			return nil, err
		}
		for c := range f.convs {
			f.convs[c] = mapper.Column(c)
		}
		f.errCol = mapper.CanFail()
	}
	f.repeated = make([]bool, f.nInCols)
	for c, path := range leaves {
		leaf, ok := file.Schema().Lookup(path...)
		f.repeated[c] = ok && leaf.MaxRepetitionLevel > 0
	}
	f.optional = f.errCol
	f.valCols, f.k = valueColumns(o.Model), o.Explain
	fields := make([]parquet.Field, 0, len(file.Schema().Fields())+len(f.valCols)+2*f.k+1)
	taken := map[string]bool{}
	outCols := len(leaves) + len(f.valCols) + len(extraColumns(o)) + 2*f.k
	if f.errCol {
		outCols++
	}
	f.window = windowFor(f.workers, outCols)
	f.workers = min(f.workers, f.window)
	dict := dictionaryLimit(outCols, f.window) > 0
	for _, fld := range file.Schema().Fields() {
		fields = append(fields, plainField(fld, dict))
		taken[fld.Name()] = true
	}
	var leaf parquet.Node = parquet.Leaf(parquet.DoubleType)
	if f.optional {
		leaf = parquet.Optional(leaf)
	}
	for _, name := range f.valCols {
		if taken[name] {
			return nil, fmt.Errorf("the input already has a column %q (the output's value column): rename it", name)
		}
		fields = append(fields, &field{Node: leaf, name: name})
	}
	for _, name := range extraColumns(o) {
		if taken[name] {
			return nil, fmt.Errorf("the input already has a column %q (the output's model column): rename it", name)
		}
		fields = append(fields, &field{Node: parquet.String(), name: name})
	}
	for _, rf := range reasonFields(f.k) {
		if taken[rf.Name()] {
			return nil, fmt.Errorf("the input already has a column %q (the output's reason column): rename it", rf.Name())
		}
		fields = append(fields, rf)
	}
	if f.errCol {
		if taken[errorColumn] {
			return nil, fmt.Errorf("the input already has a column %q (the output's error column): rename it", errorColumn)
		}
		fields = append(fields, &field{Node: parquet.Optional(parquet.String()), name: errorColumn})
	}
	f.schema = parquet.NewSchema(file.Schema().Name(), &group{fields: fields})
	f.outRows = int64(outputRowGroupRows(o.RowGroupRows, len(f.schema.Columns())))
	for _, rg := range file.Metadata().RowGroups {
		seekable := len(rg.Columns) > 0
		for _, c := range rg.Columns {
			seekable = seekable && c.OffsetIndexOffset > 0
		}
		f.seekable = append(f.seekable, seekable)
	}
	return f, nil
}

func (f *parquetFormat) total() (int64, bool) { return f.file.NumRows(), true }

func (f *parquetFormat) start(w *os.File) error {
	codec, err := sink.FastCodec(f.opts.Compression)
	if err != nil {
		return err
	}
	opts := append(outputOptions(codec, f.opts.RowGroupRows, len(f.schema.Columns()), f.window, f.opts.Model.Version), f.schema)
	f.w = parquet.NewGenericWriter[any](w, opts...)
	f.pool = make(chan *parquet.ConcurrentRowGroupWriter, f.window)
	for range f.window {
		f.pool <- f.w.BeginRowGroup()
	}
	return nil
}

func (f *parquetFormat) plan() (window, workers int) { return f.window, f.workers }

func (f *parquetFormat) rowGroups() chan *parquet.ConcurrentRowGroupWriter { return f.pool }

// next plans the next unit: consecutive rows up to one output row group,
// across input row groups. A row group with an offset index is cut
// anywhere (a worker seeks each column to its page); one without is read
// whole by one worker, into as many output row groups as it fills.
func (f *parquetFormat) next(u *unit) error {
	rgs := f.file.RowGroups()
	u.first = f.planned
	var rows int64
	for f.rg < len(rgs) {
		n := rgs[f.rg].NumRows()
		if f.pos >= n {
			f.rg, f.pos = f.rg+1, 0
			continue
		}
		room := f.outRows - rows
		if !f.seekable[f.rg] && n-f.pos > room {
			if rows > 0 {
				break // the row group starts a unit of its own
			}
			u.pieces = append(u.pieces, piece{rg: f.rg, lo: 0, hi: n})
			rows = n
			f.rg, f.pos = f.rg+1, 0
			break
		}
		k := min(room, n-f.pos)
		u.pieces = append(u.pieces, piece{rg: f.rg, lo: f.pos, hi: f.pos + k})
		rows += k
		f.pos += k
		if rows == f.outRows {
			break
		}
	}
	if rows == 0 {
		return io.EOF
	}
	f.planned += rows
	u.writers = int(min((rows+f.outRows-1)/f.outRows, int64(f.window)))
	return nil
}

func (f *parquetFormat) work() (work, error) { return newParquetWork(f), nil }

func (f *parquetFormat) commit(*unit) error { return nil }

func (f *parquetFormat) finish() error {
	if err := f.w.Close(); err != nil {
		return fmt.Errorf("parquet footer: %w", err)
	}
	return nil
}

// group is a group node whose fields keep the order given (parquet.Group
// sorts them by name): the output lists the input's columns in the input's
// order, then the value columns, the reason columns and the error column.
type group struct {
	fields []parquet.Field
}

func (g *group) ID() int                           { return 0 }
func (g *group) String() string                    { return "group" }
func (g *group) Type() parquet.Type                { return parquet.Group{}.Type() }
func (g *group) Optional() bool                    { return false }
func (g *group) Repeated() bool                    { return false }
func (g *group) Required() bool                    { return true }
func (g *group) Leaf() bool                        { return false }
func (g *group) Fields() []parquet.Field           { return g.fields }
func (g *group) Encoding() encoding.Encoding       { return nil }
func (g *group) Compression() compress.Codec       { return nil }
func (g *group) GoType() reflect.Type              { return reflect.TypeFor[struct{}]() }
func (g *group) Value(reflect.Value) reflect.Value { return reflect.Value{} }

// field names a node inside the output schema. Rows are written as
// parquet.Row values, so Value (Go struct access) is never used.
type field struct {
	parquet.Node
	name   string
	fields []parquet.Field
}

func (f *field) Name() string                      { return f.name }
func (f *field) Value(reflect.Value) reflect.Value { return reflect.Value{} }

// Compression is nil: the output's codec is the writer's, not the input's.
func (f *field) Compression() compress.Codec { return nil }

func (f *field) Fields() []parquet.Field {
	if f.Node.Leaf() {
		return nil
	}
	return f.fields
}

// plainField copies an input field (recursively for groups) without its
// compression, keeping its type and repetition, and its encoding but for
// byte arrays, which are dictionary-encoded when dict is set.
func plainField(in parquet.Field, dict bool) parquet.Field {
	out := &field{Node: in, name: in.Name()}
	if dict && in.Leaf() && in.Type().Kind() == parquet.ByteArray {
		out.Node = parquet.Encoded(in, &parquet.RLEDictionary)
	}
	if !in.Leaf() {
		for _, child := range in.Fields() {
			out.fields = append(out.fields, plainField(child, dict))
		}
	}
	return out
}
