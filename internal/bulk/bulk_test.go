package bulk

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/parquet-go/parquet-go"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/loan"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
)

func demoModel(t testing.TB) *model.Loaded {
	t.Helper()
	f, err := modelfile.Parse(demo.Name, demo.Bytes(), modelfile.Options{})
	if err != nil {
		t.Fatalf("demo model: %v", err)
	}
	return model.NewLoaded(f.Model, model.Version(demo.Name, demo.Bytes()), true)
}

func apps(n int) []loan.Application {
	g := loan.NewGenerator(42)
	out := make([]loan.Application, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// jsonBatch decodes apps through the JSON path (ingest.Decoder on each
// application's JSON) into one batch.
func jsonBatch(t testing.TB, m *model.Loaded, as []loan.Application) *model.Batch {
	t.Helper()
	dec := ingest.NewDecoder(m.Schema(), ingest.DefaultSchemaConfig(), ingest.DefaultLimits())
	b := model.NewBatch(m.Schema(), len(as))
	for i := range as {
		if err := dec.DecodeOne(as[i].AppendJSON(nil), b); err != nil {
			t.Fatalf("decode app %d: %v", i, err)
		}
	}
	return b
}

// expected scores apps through the JSON path (ingest.Decoder on each
// application's JSON): an independent route to the same features.
func expected(t testing.TB, m *model.Loaded, as []loan.Application) []float64 {
	t.Helper()
	b := jsonBatch(t, m, as)
	out := make([]float64, len(as))
	if err := m.Predict(b, m.Prediction, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// inputColumns are the applications as typed columns of several widths:
// integers as int32 and int64 (NoEmp, UrbanRural), floats as float64,
// naics_first_two as an int32 category, booleans as booleans, plus two
// columns the model does not read.
func inputColumns(as []loan.Application, nullCity int) []arrowtest.Column {
	col := func(name string, typ arrow.DataType, f func(a *loan.Application) any) arrowtest.Column {
		c := arrowtest.Column{Name: name, Type: typ}
		for i := range as {
			c.Values = append(c.Values, f(&as[i]))
		}
		return c
	}
	var row, cityRow int
	return []arrowtest.Column{
		col("loan_id", arrow.BinaryTypes.String, func(a *loan.Application) any { row++; return "L" + strconv.Itoa(row) }),
		col("Term", arrow.PrimitiveTypes.Int32, func(a *loan.Application) any { return a.Term }),
		col("NoEmp", arrow.PrimitiveTypes.Int64, func(a *loan.Application) any {
			if a.NoEmp == nil {
				return nil
			}
			return int64(*a.NoEmp)
		}),
		col("CreateJob", arrow.PrimitiveTypes.Int32, func(a *loan.Application) any { return a.CreateJob }),
		col("RetainedJob", arrow.PrimitiveTypes.Int32, func(a *loan.Application) any { return a.RetainedJob }),
		col("longitude", arrow.PrimitiveTypes.Float64, func(a *loan.Application) any {
			if a.Longitude == nil {
				return nil
			}
			return *a.Longitude
		}),
		col("latitude", arrow.PrimitiveTypes.Float64, func(a *loan.Application) any {
			if a.Latitude == nil {
				return nil
			}
			return *a.Latitude
		}),
		col("GrAppv", arrow.PrimitiveTypes.Float64, func(a *loan.Application) any { return a.GrAppv }),
		col("SBA_Appv", arrow.PrimitiveTypes.Float64, func(a *loan.Application) any { return a.SBAAppv }),
		col("is_new", arrow.FixedWidthTypes.Boolean, func(a *loan.Application) any { return a.IsNew }),
		col("FranchiseCode", arrow.BinaryTypes.String, func(a *loan.Application) any { return a.FranchiseCode }),
		col("UrbanRural", arrow.PrimitiveTypes.Int64, func(a *loan.Application) any { return int64(a.UrbanRural) }),
		col("City", arrow.BinaryTypes.String, func(a *loan.Application) any {
			cityRow++
			if cityRow-1 == nullCity {
				return nil
			}
			return a.City
		}),
		col("State", arrow.BinaryTypes.String, func(a *loan.Application) any { return a.State }),
		col("Bank", arrow.BinaryTypes.String, func(a *loan.Application) any { return a.Bank }),
		col("BankState", arrow.BinaryTypes.String, func(a *loan.Application) any { return a.BankState }),
		col("RevLineCr", arrow.BinaryTypes.String, func(a *loan.Application) any { return a.RevLineCr }),
		col("naics_first_two", arrow.PrimitiveTypes.Int32, func(a *loan.Application) any {
			n, _ := strconv.Atoi(a.NAICS)
			return int32(n)
		}),
		col("same_state", arrow.FixedWidthTypes.Boolean, func(a *loan.Application) any { return a.SameState }),
		{Name: "note", Type: arrow.BinaryTypes.String, Values: noteValues(len(as))},
	}
}

func noteValues(n int) []any {
	v := make([]any, n)
	for i := range v {
		if i%3 == 0 {
			v[i] = "note " + strconv.Itoa(i)
		}
	}
	return v
}

// noTemp fails when dir holds a temporary output.
func noTemp(t *testing.T, dir string) {
	t.Helper()
	if m, _ := filepath.Glob(filepath.Join(dir, ".scored-*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestScoreParquetKeepsColumnsOrderAndMatchesTheJSONPath(t *testing.T) {
	m := demoModel(t)
	as := apps(1000)
	want := expected(t, m, as)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "out.parquet")
	cols := inputColumns(as, -1)
	arrowtest.Write(t, in, 300, cols...)
	for _, tc := range []struct{ batch, workers int }{{7, 3}, {4096, 1}, {64, 8}} {
		st, err := ScoreFile(context.Background(), in, out, Options{Model: m, Batch: tc.batch, Workers: tc.workers, RowGroupRows: 256})
		if err != nil {
			t.Fatalf("batch %d workers %d: %v", tc.batch, tc.workers, err)
		}
		if st.Rows != 1000 || st.Errors != 0 {
			t.Errorf("stats %+v", st)
		}
		got := arrowtest.Read(t, out)
		in := arrowtest.Read(t, in)
		wantFields := append(slices.Clone(in.Fields), arrowtest.Field{Name: "default_proba", Type: "float64"})
		if !slices.Equal(got.Fields, wantFields) {
			t.Fatalf("fields\n got %v\nwant %v", got.Fields, wantFields)
		}
		for _, f := range in.Fields {
			if !slices.EqualFunc(got.Cols[f.Name], in.Cols[f.Name], func(a, b any) bool { return a == b }) {
				t.Errorf("column %s changed", f.Name)
			}
		}
		for i, v := range got.Cols["default_proba"] {
			if v.(float64) != want[i] {
				t.Fatalf("batch %d workers %d row %d: default_proba %v, want %v (JSON path)", tc.batch, tc.workers, i, v, want[i])
			}
		}
		if !slices.Equal(got.Codecs, []string{"ZSTD"}) || slices.Max(got.RowGroups) > 256 {
			t.Errorf("codecs %v row groups %v, want ZSTD and at most 256 rows", got.Codecs, got.RowGroups)
		}
		if slices.Contains(got.PageTypes, "DATA_PAGE_V2") || !slices.Contains(got.PageTypes, "DATA_PAGE") {
			t.Errorf("page types %v, want data page v1 only", got.PageTypes)
		}
		noTemp(t, dir)
	}
}

func TestScoreNullCategoryFailsThatRowOnly(t *testing.T) {
	m := demoModel(t)
	as := apps(50)
	want := expected(t, m, as)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "out.parquet")
	arrowtest.Write(t, in, 1000, inputColumns(as, 17)...)
	st, err := ScoreFile(context.Background(), in, out, Options{Model: m, Batch: 8})
	if err != nil {
		t.Fatal(err)
	}
	if st.Errors != 1 {
		t.Errorf("errors %d, want 1", st.Errors)
	}
	got := arrowtest.Read(t, out)
	n := len(got.Fields)
	if got.Fields[n-2] != (arrowtest.Field{Name: "default_proba", Type: "float64", Nullable: true}) ||
		got.Fields[n-1] != (arrowtest.Field{Name: "error", Type: "utf8", Nullable: true}) {
		t.Fatalf("last fields %v", got.Fields[n-2:])
	}
	for i := range as {
		p, e := got.Cols["default_proba"][i], got.Cols["error"][i]
		if i == 17 {
			if p != nil || e == nil || !strings.Contains(e.(string), "City: invalid_category") {
				t.Errorf("row 17: default_proba %v error %v", p, e)
			}
			continue
		}
		if p != want[i] || e != nil {
			t.Errorf("row %d: default_proba %v error %v, want %v", i, p, e, want[i])
		}
	}
}

func TestScoreRefusesColumnsBeforeWriting(t *testing.T) {
	m := demoModel(t)
	as := apps(20)
	tests := []struct {
		name   string
		mutate func([]arrowtest.Column) []arrowtest.Column
		column string
	}{
		{"missing", func(c []arrowtest.Column) []arrowtest.Column {
			return slices.DeleteFunc(c, func(c arrowtest.Column) bool { return c.Name == "City" })
		}, `"City": missing`},
		{"float category", func(c []arrowtest.Column) []arrowtest.Column {
			for i := range c {
				if c[i].Name == "State" {
					c[i].Type = arrow.PrimitiveTypes.Float64
					for j := range c[i].Values {
						c[i].Values[j] = 1.5
					}
				}
			}
			return c
		}, `"State": type DOUBLE`},
		{"string number", func(c []arrowtest.Column) []arrowtest.Column {
			for i := range c {
				if c[i].Name == "Term" {
					c[i].Type = arrow.BinaryTypes.String
					for j := range c[i].Values {
						c[i].Values[j] = "84"
					}
				}
			}
			return c
		}, `"Term": type BYTE_ARRAY`},
		{"timestamp number", func(c []arrowtest.Column) []arrowtest.Column {
			for i := range c {
				if c[i].Name == "GrAppv" {
					c[i].Type = arrow.PrimitiveTypes.Int64
					c[i].Type = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
					for j := range c[i].Values {
						c[i].Values[j] = nil
					}
					c[i].Nullable = true
				}
			}
			return c
		}, `"GrAppv": type INT64 (TIMESTAMP`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "out.parquet")
			arrowtest.Write(t, in, 1000, tc.mutate(inputColumns(as, -1))...)
			_, err := ScoreFile(context.Background(), in, out, Options{Model: m})
			if !errors.Is(err, ingest.ErrColumns) || !strings.Contains(err.Error(), tc.column) {
				t.Fatalf("error %v, want ErrColumns naming %s", err, tc.column)
			}
			if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("output exists after a column error")
			}
			noTemp(t, dir)
		})
	}
}

func TestScoreCorruptInputLeavesNoOutput(t *testing.T) {
	m := demoModel(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.parquet")
	arrowtest.Write(t, good, 100, inputColumns(apps(500), -1)...)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"truncated":      data[:len(data)/2],
		"no footer":      data[:len(data)-8],
		"empty":          {},
		"not parquet":    []byte("Term,NoEmp\n1,2\n"),
		"garbled footer": append(slices.Clone(data[:len(data)-200]), make([]byte, 200)...),
	}
	// Garbage inside the column chunks: the footer is intact, the pages are not.
	pages := slices.Clone(data)
	for i := 4; i < len(pages)/2; i += 7 {
		pages[i] ^= 0x5a
	}
	cases["garbled pages"] = pages
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			in, out := filepath.Join(dir, "bad.parquet"), filepath.Join(dir, "out.parquet")
			if err := os.WriteFile(in, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ScoreFile(context.Background(), in, out, Options{Model: m, Batch: 64}); err == nil {
				t.Fatal("no error")
			}
			if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("output exists after a corrupt input")
			}
			noTemp(t, dir)
		})
	}
}

func TestScoreCSV(t *testing.T) {
	m := demoModel(t)
	as := apps(300)
	want := expected(t, m, as)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.csv")
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	header := append([]string{"id"}, loan.FlatFields()...)
	_ = w.Write(header)
	for i := range as {
		_ = w.Write(append([]string{strconv.Itoa(i)}, flatRecord(&as[i], loan.BoolString)...))
	}
	_ = w.Write(append([]string{"bad"}, slices.Repeat([]string{"x"}, 18)...))
	w.Flush()
	if err := os.WriteFile(in, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := ScoreFile(context.Background(), in, out, Options{Model: m, Batch: 16, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 301 || st.Errors != 1 {
		t.Errorf("stats %+v", st)
	}
	recs := testkit.ReadCSV(t, out)
	if !slices.Equal(recs[0], append(slices.Clone(header), "default_proba", "error")) {
		t.Fatalf("header %v", recs[0])
	}
	for i := range as {
		rec := recs[i+1]
		p, _ := strconv.ParseFloat(rec[len(rec)-2], 64)
		if rec[0] != strconv.Itoa(i) || p != want[i] || rec[len(rec)-1] != "" {
			t.Errorf("row %d: %v, want default_proba %v", i, rec, want[i])
		}
	}
	if last := recs[len(recs)-1]; last[0] != "bad" || !strings.Contains(last[len(last)-1], "invalid_number") {
		t.Errorf("bad row: %v", last)
	}

	// The same CSV into Parquet: typed columns, read back with arrow-go.
	pq := filepath.Join(dir, "out.parquet")
	if _, err := ScoreFile(context.Background(), in, pq, Options{Model: m, Batch: 16, Workers: 3}); err != nil {
		t.Fatal(err)
	}
	tbl := arrowtest.Read(t, pq)
	types := map[string]string{}
	for _, f := range tbl.Fields {
		types[f.Name] = f.Type
	}
	if types["id"] != "utf8" || types["Term"] != "float64" || types["City"] != "utf8" || types["naics_first_two"] != "utf8" ||
		types["default_proba"] != "float64" || types["error"] != "utf8" || len(tbl.Fields) != len(header)+2 {
		t.Fatalf("CSV to Parquet fields %v", tbl.Fields)
	}
	for i := range as {
		if tbl.Cols["default_proba"][i] != want[i] || tbl.Cols["Term"][i] != float64(as[i].Term) || tbl.Cols["error"][i] != nil {
			t.Errorf("row %d: proba %v Term %v error %v", i, tbl.Cols["default_proba"][i], tbl.Cols["Term"][i], tbl.Cols["error"][i])
		}
	}
	if tbl.Cols["default_proba"][len(as)] != nil || tbl.Cols["error"][len(as)] == nil {
		t.Errorf("bad row in Parquet: proba %v error %v", tbl.Cols["default_proba"][len(as)], tbl.Cols["error"][len(as)])
	}
}

func TestScoreJSONLines(t *testing.T) {
	m := demoModel(t)
	as := apps(200)
	want := expected(t, m, as)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	var data []byte
	for i := range as {
		data = append(as[i].AppendJSON(data), '\n')
	}
	data = append(data, "{\"Term\":\"NaN\"}\n"...)
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ScoreFile(context.Background(), in, out, Options{Model: m, Batch: 9, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(out)
	defer f.Close()
	sc := bufio.NewScanner(f)
	i := 0
	for sc.Scan() {
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, sc.Text())
		}
		if i < len(as) {
			if p := obj["default_proba"]; p != want[i] || obj["Term"] != float64(as[i].Term) {
				t.Errorf("line %d: %v, want default_proba %v", i, obj, want[i])
			}
		} else if e, _ := obj["error"].(string); !strings.Contains(e, "invalid_number") {
			t.Errorf("bad line: %v", obj)
		}
		i++
	}
	if i != len(as)+1 {
		t.Errorf("%d lines, want %d", i, len(as)+1)
	}
}

func TestScoreCopyThroughWritesTheConstant(t *testing.T) {
	m := demoModel(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "out.parquet")
	arrowtest.Write(t, in, 100, inputColumns(apps(250), -1)...)
	st, err := ScoreFile(context.Background(), in, out, Options{Model: m, CopyThrough: true, Batch: 33})
	if err != nil || st.Rows != 250 {
		t.Fatalf("%+v %v", st, err)
	}
	got := arrowtest.Read(t, out)
	for _, v := range got.Cols["default_proba"] {
		if v != 0.5 {
			t.Fatalf("default_proba %v, want the constant 0.5", v)
		}
	}
}

func TestScoreFileFormats(t *testing.T) {
	if _, err := ScoreFile(context.Background(), "x.xlsx", "y.xlsx", Options{Model: demoModel(t)}); !errors.Is(err, ErrFormat) {
		t.Errorf("xlsx: %v", err)
	}
	if _, err := ScoreFile(context.Background(), "a.parquet", "b.csv", Options{Model: demoModel(t)}); !errors.Is(err, ErrFormat) {
		t.Errorf("parquet to csv: %v", err)
	}
}

// TestScoreParquetDictionariesFollowRepetition: from a plain-encoded input
// (parquet-go's defaults), the output dictionary-encodes strings, and
// numeric columns whose first values repeat (one distinct value in three
// or fewer), not ids or measurements; the values read back (arrow-go)
// equal the input's whatever the encoding. The expected encodings follow
// from the columns' construction: code and rate repeat 10 and 5 values
// over 3,000 rows, grant 750 values four times each (one distinct in
// four: a dictionary), half 1,500 values twice each (one in two: plain),
// id and amount never repeat.
func TestScoreParquetDictionariesFollowRepetition(t *testing.T) {
	type row struct {
		Code   int32   `parquet:"code"`
		ID     int64   `parquet:"id"`
		Rate   float64 `parquet:"rate"`
		Amount float64 `parquet:"amount"`
		Grant  float64 `parquet:"grant"`
		Half   int32   `parquet:"half"`
		Name   string  `parquet:"name"`
	}
	const n = 3000
	rows := make([]row, n)
	for i := range rows {
		rows[i] = row{Code: int32(i % 10), ID: int64(1_000_000 + 7919*i), Rate: []float64{0.05, 0.0625, 0.07, 0.085, 0.1}[i%5],
			Amount: 1000 + 0.37*float64(i), Grant: 500 * float64(i%750), Half: int32(i / 2), Name: "borrower " + strconv.Itoa(i)}
	}
	dir := t.TempDir()
	inPath, outPath := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "out.parquet")
	if err := parquet.WriteFile(inPath, rows); err != nil {
		t.Fatal(err)
	}
	if in := arrowtest.Read(t, inPath); len(in.DictColumns) != 0 {
		t.Fatalf("input has dictionaries %v: the test needs a plain one", in.DictColumns)
	}
	if _, err := ScoreFile(context.Background(), inPath, outPath, Options{Model: demoModel(t), CopyThrough: true}); err != nil {
		t.Fatal(err)
	}
	got := arrowtest.Read(t, outPath)
	slices.Sort(got.DictColumns)
	if want := []string{"code", "grant", "name", "rate"}; !slices.Equal(got.DictColumns, want) {
		t.Errorf("dictionary-encoded columns %v, want %v", got.DictColumns, want)
	}
	for i, r := range rows {
		want := map[string]any{"code": int64(r.Code), "id": r.ID, "rate": r.Rate, "amount": r.Amount, "grant": r.Grant, "half": int64(r.Half), "name": r.Name}
		for name, w := range want {
			if g := got.Cols[name]; len(g) != n || g[i] != w {
				t.Fatalf("%s row %d: read back %v, want %v", name, i, g[i], w)
			}
		}
	}
}
