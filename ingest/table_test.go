package ingest

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/loan-scorer/loan-scorer/model"
)

// twoFeatures is a schema with one numeric feature "x" and one categorical "c".
func twoFeatures() *model.Schema {
	return &model.Schema{
		Features: []model.Feature{
			{Name: "x", Kind: model.Float, FlatIndex: 0, Index: 0, Used: true},
			{Name: "c", Kind: model.Categorical, FlatIndex: 1, Index: 0, Used: true},
		},
		NumFloat: 1, NumCat: 1,
	}
}

func TestParquetMapperColumnTypes(t *testing.T) {
	tests := []struct {
		name    string
		x, c    parquet.Node
		problem string // substring naming the bad column; "" = accepted
	}{
		{"int32 and string", parquet.Int(32), parquet.String(), ""},
		{"int8 and int16 widths", parquet.Int(8), parquet.Int(16), ""},
		{"uint64 and enum", parquet.Uint(64), parquet.Enum(), ""},
		{"float and boolean", parquet.Leaf(parquet.FloatType), parquet.Leaf(parquet.BooleanType), ""},
		{"double and int64", parquet.Leaf(parquet.DoubleType), parquet.Int(64), ""},
		{"plain binary category", parquet.Leaf(parquet.DoubleType), parquet.Leaf(parquet.ByteArrayType), ""},
		{"optional columns", parquet.Optional(parquet.Leaf(parquet.DoubleType)), parquet.Optional(parquet.String()), ""},
		{"string number", parquet.String(), parquet.String(), `"x": type BYTE_ARRAY`},
		{"decimal number", parquet.Decimal(2, 9, parquet.Int32Type), parquet.String(), `"x": type INT32 (DECIMAL`},
		{"date number", parquet.Date(), parquet.String(), `"x": type INT32 (DATE`},
		{"timestamp number", parquet.Timestamp(parquet.Millisecond), parquet.String(), `"x": type INT64 (TIMESTAMP`},
		{"float category", parquet.Leaf(parquet.DoubleType), parquet.Leaf(parquet.DoubleType), `"c": type DOUBLE`},
		{"json category", parquet.Leaf(parquet.DoubleType), parquet.JSON(), `"c": type BYTE_ARRAY (JSON`},
		{"repeated number", parquet.Repeated(parquet.Leaf(parquet.DoubleType)), parquet.String(), `"x": nested or repeated`},
		{"nested category", parquet.Leaf(parquet.DoubleType), parquet.Group{"a": parquet.String()}, `"c": nested or repeated`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := parquet.NewSchema("t", parquet.Group{"x": tc.x, "c": tc.c, "other": parquet.String()})
			_, err := NewParquetMapper(fs, twoFeatures(), DefaultSchemaConfig())
			switch {
			case tc.problem == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.problem != "" && (!errors.Is(err, ErrColumns) || !strings.Contains(err.Error(), tc.problem)):
				t.Fatalf("error %v, want one naming %s", err, tc.problem)
			}
		})
	}
	fs := parquet.NewSchema("t", parquet.Group{"other": parquet.String()})
	_, err := NewParquetMapper(fs, twoFeatures(), DefaultSchemaConfig())
	var ce *ColumnError
	if !errors.As(err, &ce) || len(ce.Problems) != 2 || !strings.Contains(ce.Problems["x"], "missing") {
		t.Errorf("missing columns: %v", err)
	}
}

// row builds a two-column row (x, c) in the column order of a Group
// (sorted by name: c is column 0, x column 1).
func row(c, x parquet.Value) parquet.Row {
	return parquet.Row{c.Level(0, c.DefinitionLevel(), 0), x.Level(0, x.DefinitionLevel(), 1)}
}

func TestParquetMapperValues(t *testing.T) {
	opt := func(v parquet.Value) parquet.Value { return v.Level(0, 1, 0) }
	null := parquet.NullValue()
	tests := []struct {
		name    string
		x, c    parquet.Node
		row     parquet.Row
		wantX   float64
		wantC   string
		problem string
	}{
		{"int category as decimal text", parquet.Int(32), parquet.Int(32), row(parquet.Int32Value(45), parquet.Int32Value(-7)), -7, "45", ""},
		{"big int category", parquet.Int(32), parquet.Int(64), row(parquet.Int64Value(1234567), parquet.Int32Value(0)), 0, "1234567", ""},
		{"negative int category", parquet.Int(32), parquet.Int(64), row(parquet.Int64Value(-3), parquet.Int32Value(0)), 0, "-3", ""},
		{"unsigned number", parquet.Uint(32), parquet.String(), row(parquet.ByteArrayValue([]byte("NC")), parquet.Int32Value(-1)), 4294967295, "NC", ""},
		{"bool as", parquet.Leaf(parquet.DoubleType), parquet.Leaf(parquet.BooleanType), row(parquet.BooleanValue(true), parquet.DoubleValue(1.5)), 1.5, "yes", ""},
		{"null number is missing", parquet.Optional(parquet.Leaf(parquet.DoubleType)), parquet.String(), parquet.Row{parquet.ByteArrayValue([]byte("a")).Level(0, 0, 0), null.Level(0, 0, 1)}, math.NaN(), "a", ""},
		{"null category fails the row", parquet.Leaf(parquet.DoubleType), parquet.Optional(parquet.String()), parquet.Row{null.Level(0, 0, 0), parquet.DoubleValue(2).Level(0, 0, 1)}, 2, "", "c: invalid_category"},
		{"present optional category", parquet.Leaf(parquet.DoubleType), parquet.Optional(parquet.String()), parquet.Row{opt(parquet.ByteArrayValue([]byte("TX"))), parquet.DoubleValue(2).Level(0, 0, 1)}, 2, "TX", ""},
		// NaN and the infinities are invalid_number, as in JSON: only a
		// null means missing.
		{"NaN double fails the row", parquet.Leaf(parquet.DoubleType), parquet.String(), row(parquet.ByteArrayValue([]byte("a")), parquet.DoubleValue(math.NaN())), 0, "", "x: invalid_number"},
		{"infinite double fails the row", parquet.Leaf(parquet.DoubleType), parquet.String(), row(parquet.ByteArrayValue([]byte("a")), parquet.DoubleValue(math.Inf(-1))), 0, "", "x: invalid_number"},
		{"infinite float fails the row", parquet.Leaf(parquet.FloatType), parquet.String(), row(parquet.ByteArrayValue([]byte("a")), parquet.FloatValue(float32(math.Inf(1)))), 0, "", "x: invalid_number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := parquet.NewSchema("t", parquet.Group{"x": tc.x, "c": tc.c})
			m, err := NewParquetMapper(fs, twoFeatures(), SchemaConfig{BoolAs: []string{"no", "yes"}})
			if err != nil {
				t.Fatal(err)
			}
			floats, cats := []float64{math.NaN()}, []string{""}
			p := m.Fill(tc.row, floats, cats)
			// The columnar form, one column at a time in the file's
			// order, gives the same values and the same first problem.
			b := model.NewBatch(twoFeatures(), 1)
			b.AppendRow()
			problems := []string{""}
			for _, v := range tc.row {
				m.Column(v.Column()).Fill([]parquet.Value{v}, b, 0, problems)
			}
			if problems[0] != p || b.Cats[0] != cats[0] || !sameFloat(b.Floats[0], floats[0]) {
				t.Errorf("columns: x=%v c=%q problem %q; rows: x=%v c=%q problem %q", b.Floats[0], b.Cats[0], problems[0], floats[0], cats[0], p)
			}
			if tc.problem != "" {
				if !strings.Contains(p, tc.problem) {
					t.Errorf("problem %q, want %q", p, tc.problem)
				}
				return
			}
			if p != "" || cats[0] != tc.wantC || (floats[0] != tc.wantX && !(math.IsNaN(floats[0]) && math.IsNaN(tc.wantX))) {
				t.Errorf("got x=%v c=%q problem %q, want x=%v c=%q", floats[0], cats[0], p, tc.wantX, tc.wantC)
			}
		})
	}
}

func TestCSVMapper(t *testing.T) {
	s := twoFeatures()
	if _, err := NewCSVMapper([]string{"x", "y"}, s, DefaultSchemaConfig()); !errors.Is(err, ErrColumns) || !strings.Contains(err.Error(), `"c": missing`) {
		t.Errorf("missing: %v", err)
	}
	if _, err := NewCSVMapper([]string{"x", "c", "x"}, s, DefaultSchemaConfig()); err == nil || !strings.Contains(err.Error(), `"x": appears twice`) {
		t.Errorf("duplicate: %v", err)
	}
	m, err := NewCSVMapper([]string{"c", "x"}, s, DefaultSchemaConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rec     []string
		x       float64
		problem string
	}{
		{[]string{"NC", "1.5e3"}, 1500, ""},
		{[]string{"NC", ""}, math.NaN(), ""},
		{[]string{"NC", "NaN"}, 0, "x: invalid_number"},
		{[]string{"NC", "0x10"}, 0, "x: invalid_number"},
		{[]string{"NC", "1e999"}, 0, "x: invalid_number"},
		{[]string{"NC", "Inf"}, 0, "x: invalid_number"},
		{[]string{"NC", " 1"}, 0, "x: invalid_number"},
		{[]string{"NC"}, 0, "x: missing"},
	} {
		floats, cats := []float64{math.NaN()}, []string{""}
		p := m.Fill(tc.rec, floats, cats)
		if tc.problem != "" {
			if !strings.Contains(p, tc.problem) {
				t.Errorf("%v: problem %q, want %q", tc.rec, p, tc.problem)
			}
			continue
		}
		if p != "" || cats[0] != "NC" || (floats[0] != tc.x && !(math.IsNaN(floats[0]) && math.IsNaN(tc.x))) {
			t.Errorf("%v: x=%v c=%q problem %q", tc.rec, floats[0], cats[0], p)
		}
	}
}

// TestCSVMapperBooleans: DuckDB and Spark write true/false in boolean
// columns; a cell holding either, in any case, is a boolean mapped through
// schema.bool_as, exactly as JSON and Parquet booleans are, so a model
// trained on "True"/"False" sees them. Any other cell is taken as is.
func TestCSVMapperBooleans(t *testing.T) {
	s := twoFeatures()
	for _, sc := range []SchemaConfig{DefaultSchemaConfig(), {BoolAs: []string{"no", "yes"}}} {
		m, err := NewCSVMapper([]string{"c", "x"}, s, sc)
		if err != nil {
			t.Fatal(err)
		}
		for cell, want := range map[string]string{
			"true": sc.BoolAs[1], "TRUE": sc.BoolAs[1], "True": sc.BoolAs[1], "tRuE": sc.BoolAs[1],
			"false": sc.BoolAs[0], "FALSE": sc.BoolAs[0], "False": sc.BoolAs[0],
			"truth": "truth", "t": "t", "0": "0", "": "", " true": " true",
		} {
			floats, cats := []float64{math.NaN()}, []string{""}
			if p := m.Fill([]string{cell, "1"}, floats, cats); p != "" || cats[0] != want {
				t.Errorf("bool_as %v: cell %q gave %q (problem %q), want %q", sc.BoolAs, cell, cats[0], p, want)
			}
		}
	}
}
