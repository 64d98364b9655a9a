package bulk

import (
	"errors"
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
	var dict []bool // by leaf column: dictionary-encode its output
	if dictionaryLimit(outCols, f.window) > 0 {
		dict = dictionaryColumns(file)
	}
	leaf := 0
	for _, fld := range file.Schema().Fields() {
		fields = append(fields, plainField(fld, dict, &leaf))
		taken[fld.Name()] = true
	}
	var value parquet.Node = parquet.Leaf(parquet.DoubleType)
	if f.optional {
		value = parquet.Optional(value)
	}
	for _, name := range f.valCols {
		if taken[name] {
			return nil, fmt.Errorf("the input already has a column %q (the output's value column): rename it", name)
		}
		fields = append(fields, &field{Node: value, name: name})
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

func (f *parquetFormat) start(w io.Writer) error {
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

// next plans the next unit: consecutive rows up to one output row group
// (unitRows), across input row groups. A row group with an offset index
// is cut anywhere (a worker seeks each column to its page); one without
// is read whole by one worker, into as many output row groups as it
// fills.
func (f *parquetFormat) next(u *unit) error {
	rgs := f.file.RowGroups()
	u.first = f.planned
	want := unitRows(f.file.NumRows()-f.planned, f.workers, f.outRows)
	var rows int64
	for f.rg < len(rgs) {
		n := rgs[f.rg].NumRows()
		if f.pos >= n {
			f.rg, f.pos = f.rg+1, 0
			continue
		}
		room := want - rows
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
		if rows == want {
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

// unitRows is how many rows the next unit takes when left rows remain to
// plan: a full output row group (most) while there are more than workers
// of them left, then a share of what is left, left/workers rows but no
// fewer than most/8 (guided self-scheduling). With units of one size the
// last round leaves workers idle: 1M rows on two workers are seven and a
// bit row groups of 128Ki, so one worker scored four while the other
// scored three and waited; shrinking units end the workers together, at
// the cost of smaller row groups at the end of the output.
func unitRows(left int64, workers int, most int64) int64 {
	share := (left + int64(workers) - 1) / int64(max(workers, 1))
	return max(min(share, most), most/8, 1)
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
// the leaf columns dict marks (by leaf index; nil: none), which are
// dictionary-encoded. *leaf is the index of in's first leaf column; it is
// advanced past in's leaves.
func plainField(in parquet.Field, dict []bool, leaf *int) parquet.Field {
	out := &field{Node: in, name: in.Name()}
	if in.Leaf() {
		if *leaf < len(dict) && dict[*leaf] {
			out.Node = parquet.Encoded(in, &parquet.RLEDictionary)
		}
		*leaf++
	}
	if !in.Leaf() {
		for _, child := range in.Fields() {
			out.fields = append(out.fields, plainField(child, dict, leaf))
		}
	}
	return out
}

// dictionarySample is how many values of a numeric column
// dictionaryColumns looks at; one distinct value in dictionaryRepeats of
// them or fewer makes a dictionary worth its cost. A sample understates
// how much a whole row group repeats: the generated file's loan amounts
// (GrAppv) have 936 distinct values in their first 4,096 and 3,247 in a
// row group of 131,072, and dictionary-encoded (as DuckDB writes them)
// they shrink from 8 MB to 1.7 MB before compression and the run takes
// about 4 % less CPU; coordinates, 3,857 distinct in 4,096, stay plain.
const (
	dictionarySample  = 4096
	dictionaryRepeats = 3
)

// dictionaryColumns returns, by leaf column, whether the output should
// dictionary-encode it, as DuckDB and Arrow decide: strings always (they
// mostly repeat, and a page that outgrows the dictionary's limit falls
// back to plain), and numeric columns whose first values repeat: codes,
// counts and terms, not ids or measurements. An index of a few bits leaves
// zstd a fraction of the bytes: the generated loan file's integer columns
// shrink from 20 MB to about 4 MB before compression, and a column of
// distinct values, dictionary-encoded, would grow instead. The sample is
// the first page of the first row group, up to dictionarySample values; a
// page that cannot be read leaves its column plain (the run itself
// reports the error).
func dictionaryColumns(file *parquet.File) []bool {
	leaves := file.Schema().Columns()
	dict := make([]bool, len(leaves))
	groups := file.RowGroups()
	for c, path := range leaves {
		leaf, ok := file.Schema().Lookup(path...)
		if !ok {
			continue
		}
		switch leaf.Node.Type().Kind() {
		case parquet.ByteArray:
			dict[c] = true
		case parquet.Int32, parquet.Int64, parquet.Float, parquet.Double:
			if len(groups) > 0 {
				dict[c] = repeats(groups[0].ColumnChunks()[c])
			}
		}
	}
	return dict
}

// repeats reports whether the first values of a numeric column chunk
// repeat (dictionaryColumns).
func repeats(chunk parquet.ColumnChunk) bool {
	pages := chunk.Pages()
	defer pages.Close()
	page, err := pages.ReadPage()
	if err != nil {
		return false
	}
	defer parquet.Release(page)
	values := make([]parquet.Value, dictionarySample)
	n, err := page.Values().ReadValues(values)
	if err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	distinct := make(map[uint64]struct{}, n/dictionaryRepeats+1)
	seen := 0
	for _, v := range values[:n] {
		if v.IsNull() {
			continue
		}
		seen++
		distinct[v.Uint64()] = struct{}{} // the value's bits, whatever its kind
		if len(distinct) > n/dictionaryRepeats {
			return false
		}
	}
	return seen > 0
}
