package bulk

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/sink"
)

// errorColumn is the output column holding why a row could not be scored
// (null when it was). A Parquet output has it only when the input's schema
// can make a row fail (a nullable categorical column); without it, a row
// that cannot be scored all the same (a NaN in a float column) stops the
// run with ErrUnscorableRow, naming the row, and no output appears.
const errorColumn = "error"

// parquetRows is a chunk's storage for Parquet rows: the rows parquet-go
// reads into, and one arena holding the bytes of their byte-array values.
type parquetRows struct {
	rows  []parquet.Row
	arena []byte
}

// parquetFormat streams a Parquet file row group by row group.
type parquetFormat struct {
	file    *parquet.File
	mapper  *ingest.ParquetMapper
	opts    Options
	nInCols int

	rg     int          // next row group
	rows   parquet.Rows // of the current row group, nil between them
	rgLeft int64        // rows of the current row group not read yet

	schema   *parquet.Schema
	valCols  []string
	k        int  // reasons per row (Options.Explain), in 2k columns
	optional bool // value columns nullable (rows can fail)
	errCol   bool
	w        *parquet.GenericWriter[any]
	written  int64 // rows written so far
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
	f = &parquetFormat{file: file, opts: o, nInCols: len(file.Schema().Columns())}
	if err := checkColumns(f.nInCols, o.MaxColumns); err != nil {
		return nil, err
	}
	if err := checkPages(file.Metadata(), o.MaxPageBytes); err != nil {
		return nil, err
	}
	if !o.CopyThrough {
		f.mapper, err = ingest.NewParquetMapper(file.Schema(), o.Model.Schema(), o.Schema)
		if err != nil {
			return nil, err
		}
		f.errCol = f.mapper.CanFail()
	}
	f.optional = f.errCol
	f.valCols, f.k = valueColumns(o.Model), o.Explain
	fields := make([]parquet.Field, 0, len(file.Schema().Fields())+len(f.valCols)+2*f.k+1)
	taken := map[string]bool{}
	for _, fld := range file.Schema().Fields() {
		fields = append(fields, plainField(fld))
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
	return f, nil
}

func (f *parquetFormat) total() (int64, bool) { return f.file.NumRows(), true }

func (f *parquetFormat) start(w *os.File) error {
	codec, err := sink.Codec(f.opts.Compression)
	if err != nil {
		return err
	}
	opts := append(outputOptions(codec, f.opts.RowGroupRows, len(f.schema.Columns())), f.schema)
	f.w = parquet.NewGenericWriter[any](w, opts...)
	return nil
}

func (f *parquetFormat) width() int { return f.nInCols + len(f.valCols) + 2*f.k + 1 }

// readStep is the most rows read at once, so that a chunk of long strings
// can close at its byte budget before it reads many more.
const readStep = 256

func (f *parquetFormat) read(c *chunk, lim chunkLimits) error {
	pr := &c.pq
	capacity := lim.rows
	if cap(pr.rows) < capacity {
		// One backing array for the chunk, each row with room for the
		// output's columns: no growth per row, in reading or in writing.
		// (A row with repeated values may outgrow its slot; append then
		// moves it, which is correct, only slower.)
		per := f.width()
		values := make([]parquet.Value, capacity*per)
		pr.rows = make([]parquet.Row, capacity)
		for i := range pr.rows {
			pr.rows[i] = values[i*per : i*per : (i+1)*per]
		}
	}
	pr.rows = pr.rows[:capacity]
	size := 0
	for c.n < capacity && size < lim.bytes {
		if f.rows == nil {
			if f.rg == len(f.file.RowGroups()) {
				break
			}
			rg := f.file.RowGroups()[f.rg]
			f.rows, f.rgLeft = rg.Rows(), rg.NumRows()
			f.rg++
		}
		if f.rgLeft <= 0 {
			// Asking a row group for rows past its end makes every column
			// try to read another page: thousands of columns times the
			// rows asked for. Close it instead.
			cerr := f.rows.Close()
			f.rows = nil
			if cerr != nil {
				return fmt.Errorf("%w: row group %d: %w", ErrCorrupt, f.rg-1, cerr)
			}
			continue
		}
		want := int(min(int64(capacity-c.n), int64(readStep), f.rgLeft))
		n, err := f.rows.ReadRows(pr.rows[c.n : c.n+want])
		size += rowBytes(pr.rows[c.n:c.n+n], f.width())
		c.n += n
		f.rgLeft -= int64(n)
		if n == 0 && err == nil {
			// A reader that neither moves nor ends would spin forever on
			// a corrupt file.
			return fmt.Errorf("%w: row group %d yields no rows", ErrCorrupt, f.rg-1)
		}
		if errors.Is(err, io.EOF) {
			if f.rgLeft > 0 {
				return fmt.Errorf("%w: row group %d ends %d rows early", ErrCorrupt, f.rg-1, f.rgLeft)
			}
			f.rgLeft = 0 // closed at the top of the loop
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: row group %d: %w", ErrCorrupt, f.rg-1, err)
		}
	}
	pr.rows = pr.rows[:c.n]
	own(pr)
	if c.n == 0 {
		return io.EOF
	}
	return nil
}

// rowBytes is what rows cost a chunk: their value slots and the bytes of
// their byte-array values (which own copies into the chunk's arena).
func rowBytes(rows []parquet.Row, width int) int {
	size := 0
	for _, row := range rows {
		size += max(len(row), width) * valueSize
		for _, v := range row {
			if k := v.Kind(); (k == parquet.ByteArray || k == parquet.FixedLenByteArray) && !v.IsNull() {
				size += len(v.ByteArray())
			}
		}
	}
	return size
}

// own copies the bytes of the chunk's byte-array values into its arena:
// parquet-go reuses its page buffers as it reads on, and the chunk lives
// on in other goroutines.
func own(pr *parquetRows) {
	size := 0
	for _, row := range pr.rows {
		for _, v := range row {
			if k := v.Kind(); (k == parquet.ByteArray || k == parquet.FixedLenByteArray) && !v.IsNull() {
				size += len(v.ByteArray())
			}
		}
	}
	if cap(pr.arena) < size {
		pr.arena = make([]byte, 0, size+size/4)
	}
	arena := pr.arena[:0]
	for _, row := range pr.rows {
		for i, v := range row {
			k := v.Kind()
			if (k != parquet.ByteArray && k != parquet.FixedLenByteArray) || v.IsNull() {
				continue
			}
			b := v.ByteArray()
			start := len(arena)
			arena = append(arena, b...)
			owned := arena[start:len(arena):len(arena)]
			if k == parquet.ByteArray {
				row[i] = parquet.ByteArrayValue(owned).Level(v.RepetitionLevel(), v.DefinitionLevel(), v.Column())
			} else {
				row[i] = parquet.FixedLenByteArrayValue(owned).Level(v.RepetitionLevel(), v.DefinitionLevel(), v.Column())
			}
		}
	}
	pr.arena = arena
}

func (f *parquetFormat) decode(c *chunk, r int, b *model.Batch) string {
	floats, cats := b.AppendRow()
	if p := f.mapper.Fill(c.pq.rows[r], floats, cats); p != "" {
		dropLastRow(b)
		return p
	}
	return ""
}

func (f *parquetFormat) write(c *chunk) error {
	width := len(f.valCols)
	def := 0
	if f.optional {
		def = 1
	}
	for r := range c.n {
		if p := c.problems[r]; p != "" && !f.errCol {
			return fmt.Errorf("%w: row %d: %s (the output has no error column: write missing numbers as nulls)",
				ErrUnscorableRow, f.written+int64(r), p)
		}
	}
	for r := range c.n {
		row := c.pq.rows[r]
		col := f.nInCols
		for j := range width {
			v := c.out[r*width+j]
			if f.optional && math.IsNaN(v) && c.problems[r] != "" {
				row = append(row, parquet.NullValue().Level(0, 0, col))
			} else {
				row = append(row, parquet.DoubleValue(v).Level(0, def, col))
			}
			col++
		}
		row, col = appendReasonValues(row, c.noteOf(r), f.k, col)
		if f.errCol {
			if p := c.problems[r]; p != "" {
				row = append(row, parquet.ByteArrayValue([]byte(p)).Level(0, 1, col))
			} else {
				row = append(row, parquet.NullValue().Level(0, 0, col))
			}
		}
		c.pq.rows[r] = row
	}
	if _, err := f.w.WriteRows(c.pq.rows[:c.n]); err != nil {
		return err
	}
	f.written += int64(c.n)
	return nil
}

func (f *parquetFormat) finish() error {
	if err := f.w.Close(); err != nil {
		return fmt.Errorf("parquet footer: %w", err)
	}
	return nil
}

// group is a group node whose fields keep the order given (parquet.Group
// sorts them by name): the output lists the input's columns in the input's
// order, then the value columns.
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
// compression, keeping its type, repetition and encoding.
func plainField(in parquet.Field) parquet.Field {
	out := &field{Node: in, name: in.Name()}
	if !in.Leaf() {
		for _, child := range in.Fields() {
			out.fields = append(out.fields, plainField(child))
		}
	}
	return out
}
