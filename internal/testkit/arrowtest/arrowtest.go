package arrowtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Field describes one column as Arrow sees it.
type Field struct {
	Name string
	// Type is Arrow's name of the type: "utf8", "float64", "int32",
	// "bool", "timestamp[ms, tz=UTC]", "list<element: float64, nullable>"...
	Type     string
	Nullable bool
}

// Table is a whole file read into Go values: string, float64, float32,
// int64 (every integer width), bool, time.Time (UTC), []float64 or
// []string (lists), or nil for a null.
type Table struct {
	Fields []Field
	Cols   map[string][]any
	Rows   int
	// RowGroups holds the row count of each row group.
	RowGroups []int
	// Codecs lists the compression codecs of the column chunks.
	Codecs []string
	// PageTypes lists the page types met ("DATA_PAGE", "DATA_PAGE_V2",
	// "DICTIONARY_PAGE").
	PageTypes []string
	// CreatedBy is the writer's name from the footer.
	CreatedBy string
	// Meta is the footer's key-value metadata.
	Meta map[string]string
	// DictColumns lists the columns (dotted paths) with a dictionary page.
	DictColumns []string
}

// Read reads the Parquet file at path with arrow-go.
func Read(t testing.TB, path string) *Table {
	t.Helper()
	tbl, err := ReadErr(path)
	if err != nil {
		t.Fatalf("arrowtest: read %s: %v", path, err)
	}
	return tbl
}

// ReadErr reads the Parquet file at path with arrow-go.
func ReadErr(path string) (*Table, error) {
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer rdr.Close()
	out := &Table{Cols: map[string][]any{}, CreatedBy: rdr.MetaData().GetCreatedBy()}
	out.Meta = map[string]string{}
	for _, kv := range rdr.MetaData().KeyValueMetadata() {
		if kv.Value != nil {
			out.Meta[kv.Key] = *kv.Value
		}
	}
	seen := map[string]bool{}
	for i := range rdr.NumRowGroups() {
		rg := rdr.MetaData().RowGroup(i)
		out.RowGroups = append(out.RowGroups, int(rg.NumRows()))
		for c := range rg.NumColumns() {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				return nil, err
			}
			name := cc.Compression().String()
			if !seen[name] {
				seen[name] = true
				out.Codecs = append(out.Codecs, name)
			}
		}
		rgr := rdr.RowGroup(i)
		for c := range rgr.NumColumns() {
			pr, err := rgr.GetColumnPageReader(c)
			if err != nil {
				return nil, err
			}
			for pr.Next() {
				name := fmt.Sprint(pr.Page().Type())
				if col := rdr.MetaData().Schema.Column(c).ColumnPath().String(); name == "DICTIONARY_PAGE" && !seen["dict:"+col] {
					seen["dict:"+col] = true
					out.DictColumns = append(out.DictColumns, col)
				}
				if !seen["page:"+name] {
					seen["page:"+name] = true
					out.PageTypes = append(out.PageTypes, name)
				}
			}
			if err := pr.Err(); err != nil {
				return nil, fmt.Errorf("pages of column %d: %w", c, err)
			}
		}
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("arrow reader: %w", err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		return nil, fmt.Errorf("read table: %w", err)
	}
	defer tbl.Release()
	out.Rows = int(tbl.NumRows())
	for i, f := range tbl.Schema().Fields() {
		out.Fields = append(out.Fields, Field{Name: f.Name, Type: f.Type.String(), Nullable: f.Nullable})
		col := tbl.Column(i)
		vals := make([]any, 0, out.Rows)
		for _, chunk := range col.Data().Chunks() {
			for r := range chunk.Len() {
				v, err := value(chunk, r)
				if err != nil {
					return nil, fmt.Errorf("column %s: %w", f.Name, err)
				}
				vals = append(vals, v)
			}
		}
		out.Cols[f.Name] = vals
	}
	return out, nil
}

func value(a arrow.Array, i int) (any, error) {
	if a.IsNull(i) {
		return nil, nil
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i), nil
	case *array.LargeString:
		return a.Value(i), nil
	case *array.Binary:
		return string(a.Value(i)), nil
	case *array.Float64:
		return a.Value(i), nil
	case *array.Float32:
		return a.Value(i), nil
	case *array.Int8:
		return int64(a.Value(i)), nil
	case *array.Int16:
		return int64(a.Value(i)), nil
	case *array.Int32:
		return int64(a.Value(i)), nil
	case *array.Int64:
		return a.Value(i), nil
	case *array.Uint32:
		return int64(a.Value(i)), nil
	case *array.Boolean:
		return a.Value(i), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC(), nil
	case *array.List:
		start, end := a.ValueOffsets(i)
		switch vals := a.ListValues().(type) {
		case *array.Float64:
			out := make([]float64, 0, end-start)
			for j := start; j < end; j++ {
				out = append(out, vals.Value(int(j)))
			}
			return out, nil
		case *array.String:
			out := make([]string, 0, end-start)
			for j := start; j < end; j++ {
				out = append(out, vals.Value(int(j)))
			}
			return out, nil
		}
		return nil, fmt.Errorf("arrowtest: unsupported list of %s", a.ListValues().DataType())
	}
	return nil, fmt.Errorf("arrowtest: unsupported array type %s", a.DataType())
}

// Column is one column of a file to write: Values hold Go values of the
// column's type (string, float64, float32, int32, int64, bool, time.Time)
// or nil for a null (the column is nullable when any value is nil or
// Nullable is set).
type Column struct {
	Name     string
	Type     arrow.DataType
	Nullable bool
	Values   []any
}

// Write writes columns as a Parquet file with arrow-go (snappy, data page
// v1, rowGroupRows rows per row group).
func Write(t testing.TB, path string, rowGroupRows int, cols ...Column) {
	t.Helper()
	if err := WriteErr(path, rowGroupRows, cols...); err != nil {
		t.Fatalf("arrowtest: write %s: %v", path, err)
	}
}

// WriteErr is Write returning its error.
func WriteErr(path string, rowGroupRows int, cols ...Column) error {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		nullable := c.Nullable
		for _, v := range c.Values {
			nullable = nullable || v == nil
		}
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type, Nullable: nullable}
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i, c := range cols {
		fb := b.Field(i)
		for _, v := range c.Values {
			if v == nil {
				fb.AppendNull()
				continue
			}
			if err := appendValue(fb, v); err != nil {
				return fmt.Errorf("column %s: %w", c.Name, err)
			}
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithDataPageVersion(parquet.DataPageV1), parquet.WithMaxRowGroupLength(int64(rowGroupRows)))
	w, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		f.Close()
		return err
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return err
	}
	return w.Close() // closes f
}

func appendValue(b array.Builder, v any) error {
	switch b := b.(type) {
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.Float32Builder:
		b.Append(v.(float32))
	case *array.Int32Builder:
		b.Append(v.(int32))
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.TimestampBuilder:
		b.AppendTime(v.(time.Time))
	default:
		return fmt.Errorf("unsupported builder %T", b)
	}
	return nil
}
