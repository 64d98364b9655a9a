package bulk

import (
	"context"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/loan"
)

// writeAppsCSV writes applications as CSV: the loan.FlatFields header,
// then each application's flatRecord with booleans as boolCell writes them.
func writeAppsCSV(t *testing.T, path string, as []loan.Application, boolCell func(bool) string) {
	t.Helper()
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	_ = w.Write(loan.FlatFields())
	for i := range as {
		_ = w.Write(flatRecord(&as[i], boolCell))
	}
	w.Flush()
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestScoreCSVLowercaseBooleansMatchParquet is issue 12's silent wrong
// score: a CSV with true/false in its boolean columns scored as the
// categories "true"/"false", which the model never saw, where the same
// rows as Parquet (booleans through schema.bool_as) scored as "True" and
// "False". Both now give the JSON path's probabilities, bit for bit.
func TestScoreCSVLowercaseBooleansMatchParquet(t *testing.T) {
	m := demoModel(t)
	as := apps(400)
	want := expected(t, m, as)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	writeAppsCSV(t, in, as, strconv.FormatBool)
	pqIn, pqOut := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "out.parquet")
	arrowtest.Write(t, pqIn, 1000, inputColumns(as, -1)...)

	if _, err := ScoreFile(context.Background(), pqIn, pqOut, Options{Model: m}); err != nil {
		t.Fatal(err)
	}
	csvOut := filepath.Join(dir, "out.csv")
	if _, err := ScoreFile(context.Background(), in, csvOut, Options{Model: m}); err != nil {
		t.Fatal(err)
	}
	fromParquet := arrowtest.Read(t, pqOut).Cols["default_proba"]
	recs := testkit.ReadCSV(t, csvOut)
	worst := 0.0
	for i := range as {
		rec := recs[i+1]
		p, err := strconv.ParseFloat(rec[len(rec)-2], 64)
		if err != nil || rec[len(rec)-1] != "" {
			t.Fatalf("CSV row %d: %v", i, rec)
		}
		if fromParquet[i] != want[i] {
			t.Fatalf("Parquet row %d: %v, JSON path %v", i, fromParquet[i], want[i])
		}
		worst = max(worst, math.Abs(p-want[i]))
	}
	if worst != 0 {
		t.Fatalf("CSV with lowercase booleans differs from Parquet and JSON by up to %v", worst)
	}
}

// nanColumns are inputColumns with GrAppv of row bad set to v.
func nanColumns(as []loan.Application, bad int, v float64, nullCity int) []arrowtest.Column {
	cols := inputColumns(as, nullCity)
	for i := range cols {
		if cols[i].Name == "GrAppv" {
			cols[i].Values[bad] = v
		}
	}
	return cols
}

// TestScoreParquetNaNIsInvalidNumber: a NaN or an infinity in a float
// column is invalid_number, as in JSON (before, it was scored as a
// missing value). With an error column (the input has a nullable
// category) that row fails alone; without one the run stops naming the
// row, and no output appears.
func TestScoreParquetNaNIsInvalidNumber(t *testing.T) {
	m := demoModel(t)
	as := apps(60)
	want := expected(t, m, as)
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		dir := t.TempDir()
		in, out := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "out.parquet")
		arrowtest.Write(t, in, 1000, nanColumns(as, 23, v, -1)...)
		_, err := ScoreFile(context.Background(), in, out, Options{Model: m, Batch: 8})
		if !errors.Is(err, ErrUnscorableRow) || !strings.Contains(err.Error(), "row 23: GrAppv: invalid_number") {
			t.Errorf("%v without an error column: %v", v, err)
		}
		if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("%v: an output exists after the failed run", v)
		}
		noTemp(t, dir)

		// A nullable City (row 5 null) gives the output an error column.
		arrowtest.Write(t, in, 1000, nanColumns(as, 23, v, 5)...)
		st, err := ScoreFile(context.Background(), in, out, Options{Model: m, Batch: 8})
		if err != nil || st.Errors != 2 {
			t.Fatalf("%v with an error column: %+v, %v", v, st, err)
		}
		got := arrowtest.Read(t, out)
		for i := range as {
			p, e := got.Cols["default_proba"][i], got.Cols["error"][i]
			switch i {
			case 23:
				if p != nil || e == nil || !strings.Contains(e.(string), "GrAppv: invalid_number") {
					t.Errorf("%v row 23: default_proba %v error %v", v, p, e)
				}
			case 5:
				if p != nil || e == nil {
					t.Errorf("row 5: default_proba %v error %v", p, e)
				}
			default:
				if p != want[i] || e != nil {
					t.Errorf("%v row %d: %v %v, want %v", v, i, p, e, want[i])
				}
			}
		}
	}
}

// TestScoreSkipsAByteOrderMark: a UTF-8 byte-order mark (Excel, Windows
// tools) before the first JSON line or the CSV header is skipped; before,
// the first line was malformed JSON and the first column name did not
// match.
func TestScoreSkipsAByteOrderMark(t *testing.T) {
	m := demoModel(t)
	as := apps(20)
	want := expected(t, m, as)
	dir := t.TempDir()
	var lines []byte
	lines = append(lines, 0xEF, 0xBB, 0xBF)
	for i := range as {
		lines = append(as[i].AppendJSON(lines), '\n')
	}
	jsonl := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(jsonl, lines, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := ScoreFile(context.Background(), jsonl, filepath.Join(dir, "out.jsonl"), Options{Model: m})
	if err != nil || st.Errors != 0 || st.Rows != int64(len(as)) {
		t.Fatalf("JSON lines with a BOM: %+v, %v", st, err)
	}
	csvPath := filepath.Join(dir, "in.csv")
	writeAppsCSV(t, csvPath, as, strconv.FormatBool)
	body, _ := os.ReadFile(csvPath)
	if err := os.WriteFile(csvPath, append([]byte{0xEF, 0xBB, 0xBF}, body...), 0o644); err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(dir, "out.parquet")
	if st, err := ScoreFile(context.Background(), csvPath, pq, Options{Model: m}); err != nil || st.Errors != 0 {
		t.Fatalf("CSV with a BOM: %+v, %v", st, err)
	}
	tbl := arrowtest.Read(t, pq)
	if tbl.Fields[0].Name != loan.FlatFields()[0] {
		t.Errorf("first column %q", tbl.Fields[0].Name)
	}
	for i := range as {
		if tbl.Cols["default_proba"][i] != want[i] {
			t.Errorf("row %d: %v, want %v", i, tbl.Cols["default_proba"][i], want[i])
		}
	}
}
