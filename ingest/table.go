package ingest

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/loan-scorer/loan-scorer/model"
)

// Tables (Parquet, CSV) map their columns onto model features by name with
// the value rules of values.go, applied to typed columns:
//   - a numeric feature takes any integer or floating-point column; a null
//     is missing (NaN); a NaN or an infinity is invalid_number, as in JSON,
//     which fails that row only;
//   - a categorical feature takes a string column as is, a boolean column as
//     SchemaConfig.BoolAs, an integer column as its decimal text; a null
//     category is invalid_category, as JSON null is (CatBoost has no missing
//     category), which fails that row only;
//   - a feature without a column, or a column of another type (decimal,
//     date, timestamp, binary-backed number, float category, nested or
//     repeated), is a *ColumnError naming the column, before any row is read.

// ColumnError reports the columns of a table that cannot feed the model.
type ColumnError struct {
	// Problems maps a feature (column) name to what is wrong with it.
	Problems map[string]string
}

// Error lists every column's problem, sorted by name.
func (e *ColumnError) Error() string {
	names := make([]string, 0, len(e.Problems))
	for n := range e.Problems {
		names = append(names, n)
	}
	sortStrings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("column %q: %s", n, e.Problems[n])
	}
	return "input columns do not fit the model: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrColumns) true for a *ColumnError.
func (e *ColumnError) Is(target error) bool { return target == ErrColumns }

// ErrColumns matches every *ColumnError.
var ErrColumns = errors.New("input columns do not fit the model")

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// convKind is how one column's values become a feature's value.
type convKind uint8

const (
	numInt32 convKind = iota + 1
	numUint32
	numInt64
	numUint64
	numFloat
	numDouble
	catBytes
	catBool
	catInt32
	catUint32
	catInt64
	catUint64
)

// source feeds one feature from one column.
type source struct {
	feature  model.Feature
	conv     convKind
	nullable bool
}

// ParquetMapper fills model.Batch rows from parquet-go rows of one file
// schema. It is immutable and safe for concurrent use.
type ParquetMapper struct {
	schema   *model.Schema
	sources  []source // by feature, in schema order
	byColumn []int    // leaf column index → index into sources, or -1
	rules    valueRules
	canFail  bool
}

// NewParquetMapper maps the columns of file schema fs onto the features of
// s, or returns a *ColumnError naming every column that does not fit.
func NewParquetMapper(fs *parquet.Schema, s *model.Schema, sc SchemaConfig) (*ParquetMapper, error) {
	m := &ParquetMapper{schema: s, rules: newValueRules(sc)}
	m.byColumn = make([]int, len(fs.Columns()))
	for i := range m.byColumn {
		m.byColumn[i] = -1
	}
	top := map[string]parquet.Field{}
	for _, f := range fs.Fields() {
		top[f.Name()] = f
	}
	problems := map[string]string{}
	for _, f := range s.Features {
		field, ok := top[f.Name]
		if !ok {
			problems[f.Name] = "missing (the model's " + f.Kind.String() + " feature has no column)"
			continue
		}
		if !field.Leaf() || field.Repeated() {
			problems[f.Name] = "nested or repeated; want a plain column"
			continue
		}
		leaf, ok := fs.Lookup(f.Name)
		if !ok {
			problems[f.Name] = "not a leaf column"
			continue
		}
		conv, problem := convOf(field.Type(), f.Kind)
		if problem != "" {
			problems[f.Name] = problem
			continue
		}
		src := source{feature: f, conv: conv, nullable: field.Optional()}
		if src.nullable && f.Kind == model.Categorical {
			m.canFail = true
		}
		m.byColumn[leaf.ColumnIndex] = len(m.sources)
		m.sources = append(m.sources, src)
	}
	if len(problems) > 0 {
		return nil, &ColumnError{Problems: problems}
	}
	return m, nil
}

// convOf checks a column type against a feature kind.
func convOf(t parquet.Type, kind model.FeatureKind) (convKind, string) {
	lt := t.LogicalType()
	var it *format.IntType
	plain := lt == nil || lt.Value == nil
	if !plain {
		it, _ = lt.Value.(*format.IntType)
	}
	if !plain && it == nil && t.Kind() != parquet.ByteArray {
		return 0, fmt.Sprintf("type %s (%s) is not an integer, float, string or boolean column", t.Kind(), lt)
	}
	if ct := t.ConvertedType(); plain && ct != nil && t.Kind() != parquet.ByteArray {
		// Legacy annotations without a logical type: only integer widths.
		switch *ct {
		case deprecated.Int8, deprecated.Int16, deprecated.Int32, deprecated.Int64:
		case deprecated.Uint8, deprecated.Uint16, deprecated.Uint32, deprecated.Uint64:
			it = &format.IntType{IsSigned: false}
		default:
			return 0, fmt.Sprintf("type %s (converted type %d) is not an integer, float, string or boolean column", t.Kind(), *ct)
		}
	}
	unsigned := it != nil && !it.IsSigned
	if kind == model.Float {
		switch t.Kind() {
		case parquet.Int32:
			return pick(unsigned, numUint32, numInt32), ""
		case parquet.Int64:
			return pick(unsigned, numUint64, numInt64), ""
		case parquet.Float:
			return numFloat, ""
		case parquet.Double:
			return numDouble, ""
		}
		return 0, fmt.Sprintf("type %s; a numeric feature takes an integer or floating-point column", typeName(t))
	}
	switch t.Kind() {
	case parquet.ByteArray:
		if !plain {
			switch lt.Value.(type) {
			case *format.StringType, *format.EnumType:
			default:
				return 0, fmt.Sprintf("type %s; a categorical feature takes a string, boolean or integer column", typeName(t))
			}
		}
		return catBytes, ""
	case parquet.Boolean:
		return catBool, ""
	case parquet.Int32:
		return pick(unsigned, catUint32, catInt32), ""
	case parquet.Int64:
		return pick(unsigned, catUint64, catInt64), ""
	}
	return 0, fmt.Sprintf("type %s; a categorical feature takes a string, boolean or integer column", typeName(t))
}

func pick(c bool, a, b convKind) convKind {
	if c {
		return a
	}
	return b
}

func typeName(t parquet.Type) string {
	if lt := t.LogicalType(); lt != nil && lt.Value != nil {
		return fmt.Sprintf("%s (%s)", t.Kind(), lt)
	}
	return t.Kind().String()
}

// CanFail reports whether the file's schema lets a row fail to map (a
// nullable categorical column): its output then has an error column. A NaN
// or an infinity in a float column fails its row too, but a file whose
// schema is otherwise fine should not get an error column for values that
// readers of typed files rarely write (missing numbers are nulls): where
// there is no error column, the caller stops at such a row instead.
func (m *ParquetMapper) CanFail() bool { return m.canFail }

// Fill maps one row into floats and cats (a Batch row's slots, floats
// preset to NaN). It returns "" or the problem of the row, as
// "<feature>: invalid_category (null; ...)" or "<feature>: invalid_number
// (NaN or infinite; ...)".
//
// Category strings of byte-array columns share the bytes of row: they are
// valid only while row's values are, which is all a Batch needs (Predict
// never retains it).
func (m *ParquetMapper) Fill(row parquet.Row, floats []float64, cats []string) string {
	problem := [1]string{}
	for k, v := range row {
		col := v.Column()
		if col >= len(m.byColumn) || m.byColumn[col] < 0 {
			continue
		}
		src := &m.sources[m.byColumn[col]]
		m.rules.fill(src, row[k:k+1], floats[src.feature.Index:], cats[src.feature.Index:], 0, problem[:])
	}
	return problem[0]
}

// Column returns the converter of leaf column col, or nil when the model
// reads no feature from it: the columnar form of Fill, for readers that
// decode a file column by column.
func (m *ParquetMapper) Column(col int) *ColumnConverter {
	if col < 0 || col >= len(m.byColumn) || m.byColumn[col] < 0 {
		return nil
	}
	return &ColumnConverter{src: &m.sources[m.byColumn[col]], rules: &m.rules}
}

// ColumnConverter maps the values of one Parquet column onto its feature
// with the value rules (the rules of Fill, one column at a time). It is
// immutable and safe for concurrent use.
type ColumnConverter struct {
	src   *source
	rules *valueRules
}

// Fill maps values, one per row (a non-repeated column, as a page yields
// them), into rows first, first+1, ... of b (rows already appended, floats
// preset to NaN). Where a row has no problem yet, problems[i] gets the
// problem of row first+i, worded as ParquetMapper.Fill words it; filling
// the columns in the file's order thus keeps the first problem of each row
// in column order, as Fill does. Categories of a string column share the
// values' bytes.
func (c *ColumnConverter) Fill(values []parquet.Value, b *model.Batch, first int, problems []string) {
	f := &c.src.feature
	if f.Kind == model.Categorical {
		c.rules.fill(c.src, values, nil, b.Cats[first*b.NumCat+f.Index:], b.NumCat, problems)
	} else {
		c.rules.fill(c.src, values, b.Floats[first*b.NumFloat+f.Index:], nil, b.NumFloat, problems)
	}
}

// fill applies the value rules to values of src's column, one per row:
// row i's slot is floats[i*stride] for a numeric feature, cats[i*stride]
// for a categorical one, and its problem goes to problems[i] unless that
// is set already. One loop per column type, so a column of thousands of
// values costs no call per value.
func (r *valueRules) fill(src *source, values []parquet.Value, floats []float64, cats []string, stride int, problems []string) {
	f := &src.feature
	if f.Kind == model.Categorical {
		for i := range values {
			if values[i].IsNull() && problems[i] == "" {
				problems[i] = f.Name + ": " + FieldInvalidCategory + " (null; a category cannot be missing)"
			}
		}
	}
	switch src.conv {
	case numInt32:
		for i := range values {
			if v := &values[i]; !v.IsNull() {
				floats[i*stride] = float64(v.Int32())
			}
		}
	case numUint32:
		for i := range values {
			if v := &values[i]; !v.IsNull() {
				floats[i*stride] = float64(v.Uint32())
			}
		}
	case numInt64:
		for i := range values {
			if v := &values[i]; !v.IsNull() {
				floats[i*stride] = float64(v.Int64())
			}
		}
	case numUint64:
		for i := range values {
			if v := &values[i]; !v.IsNull() {
				floats[i*stride] = float64(v.Uint64())
			}
		}
	case numFloat, numDouble:
		for i := range values {
			v := &values[i]
			if v.IsNull() {
				continue // a missing number stays NaN
			}
			x := v.Double()
			if src.conv == numFloat {
				x = float64(v.Float())
			}
			if p := finite(x, &floats[i*stride]); p != "" && problems[i] == "" {
				problems[i] = f.Name + ": " + p + " (NaN or infinite; only null means missing)"
			}
		}
	case catBytes:
		for i := range values {
			if v := &values[i]; !v.IsNull() {
				b := v.ByteArray()
				if len(b) == 0 {
					cats[i*stride] = ""
				} else {
					cats[i*stride] = unsafe.String(&b[0], len(b))
				}
			}
		}
	case catBool:
		for i := range values {
			if v := &values[i]; !v.IsNull() {
				cats[i*stride] = r.boolCategory(v.Boolean())
			}
		}
	case catInt32:
		for i := range values {
			if v := &values[i]; !v.IsNull() {
				cats[i*stride] = r.intCategory(int64(v.Int32()))
			}
		}
	case catUint32:
		for i := range values {
			if v := &values[i]; !v.IsNull() {
				cats[i*stride] = r.intCategory(int64(v.Uint32()))
			}
		}
	case catInt64:
		for i := range values {
			if v := &values[i]; !v.IsNull() {
				cats[i*stride] = r.intCategory(v.Int64())
			}
		}
	case catUint64:
		for i := range values {
			if v := &values[i]; !v.IsNull() {
				cats[i*stride] = r.uintCategory(v.Uint64())
			}
		}
	}
}

// CSVMapper fills model.Batch rows from the text fields of a CSV file whose
// header names the columns, with the value rules of values.go. A numeric
// cell holds a finite decimal literal (the rule for numbers given as text)
// or nothing (missing). A category cell holding true or false in any case
// is a boolean (SchemaConfig.BoolAs, as JSON and Parquet booleans are); any
// other is taken as is (CSV cannot tell an empty string from a null).
type CSVMapper struct {
	cols  []int // by feature (schema order): the CSV column
	s     *model.Schema
	rules valueRules
}

// NewCSVMapper maps header onto the features of s, or returns a
// *ColumnError naming every feature without a column (or with two).
func NewCSVMapper(header []string, s *model.Schema, sc SchemaConfig) (*CSVMapper, error) {
	pos := map[string]int{}
	problems := map[string]string{}
	for i, h := range header {
		if _, dup := pos[h]; dup {
			if _, isFeature := s.Lookup(h); isFeature {
				problems[h] = "appears twice in the header"
			}
		}
		pos[h] = i
	}
	m := &CSVMapper{s: s, cols: make([]int, len(s.Features)), rules: newValueRules(sc)}
	for i, f := range s.Features {
		c, ok := pos[f.Name]
		if !ok {
			problems[f.Name] = "missing (the model's " + f.Kind.String() + " feature has no column)"
			continue
		}
		m.cols[i] = c
	}
	if len(problems) > 0 {
		return nil, &ColumnError{Problems: problems}
	}
	return m, nil
}

// Fill maps one record into a Batch row's slots (floats preset to NaN). It
// returns "" or the row's problem. Category strings alias record's fields.
func (m *CSVMapper) Fill(record []string, floats []float64, cats []string) string {
	for i, f := range m.s.Features {
		c := m.cols[i]
		if c >= len(record) {
			return f.Name + ": " + FieldMissing + " (short record)"
		}
		cell := record[c]
		if f.Kind == model.Categorical {
			cats[f.Index] = m.rules.cellCategory(cell)
			continue
		}
		if cell == "" {
			continue // missing
		}
		if p := numberText(cell, &floats[f.Index]); p != "" {
			return f.Name + ": " + p
		}
	}
	return ""
}
