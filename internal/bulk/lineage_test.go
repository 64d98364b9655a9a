package bulk

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/buildinfo"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/loan"
)

// TestParquetOutputCarriesItsLineage: a Parquet output, from a Parquet
// input and from a JSON lines one, names the model that scored it and the
// scorer that wrote it in its key-value metadata, and its created_by
// carries the scorer's version and revision (read back with arrow-go).
// Before, created_by read "loan-scorer score version  (build )" and the
// file had no metadata.
func TestParquetOutputCarriesItsLineage(t *testing.T) {
	t.Parallel()
	m := demoModel(t)
	as := apps(50)
	dir := t.TempDir()
	pq := filepath.Join(dir, "in.parquet")
	arrowtest.Write(t, pq, 50, inputColumns(as, -1)...)
	csvIn := filepath.Join(dir, "in.csv")
	writeAppsCSV(t, csvIn, as, loan.BoolString)
	in := buildinfo.Read()
	wantCreatedBy := "loan-scorer score version " + in.Version + " (build " + in.ShortRevision() + ")"
	for _, src := range []string{pq, csvIn} {
		out := filepath.Join(dir, "out-"+filepath.Ext(src)[1:]+".parquet")
		if _, err := ScoreFile(context.Background(), src, out, Options{Model: m}); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got := arrowtest.Read(t, out)
		if got.Meta[MetaModel] != m.Version || got.Meta[MetaScorer] != in.String() {
			t.Errorf("%s: metadata %v, want %s=%s and %s=%s", filepath.Base(src), got.Meta, MetaModel, m.Version, MetaScorer, in.String())
		}
		if got.CreatedBy != wantCreatedBy {
			t.Errorf("%s: created_by %q, want %q", filepath.Base(src), got.CreatedBy, wantCreatedBy)
		}
	}
}

// TestModelColumnOnRequest: with ModelColumn every row of every output
// format names the model version, the rows that could not be scored too,
// after the value columns; without it there is no such column.
func TestModelColumnOnRequest(t *testing.T) {
	t.Parallel()
	m := demoModel(t)
	as := apps(20)
	dir := t.TempDir()
	pq := filepath.Join(dir, "in.parquet")
	arrowtest.Write(t, pq, 20, inputColumns(as, 3)...) // row 3: a null category, an error row
	jl := filepath.Join(dir, "in.jsonl")
	var lines []byte
	for i := range as {
		lines = append(as[i].AppendJSON(lines), '\n')
	}
	lines = append(lines, "{\"bad\n"...)
	if err := os.WriteFile(jl, lines, 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "out.parquet")
	if _, err := ScoreFile(context.Background(), pq, out, Options{Model: m, ModelColumn: true}); err != nil {
		t.Fatal(err)
	}
	got := arrowtest.Read(t, out)
	names := make([]string, len(got.Fields))
	for i, f := range got.Fields {
		names[i] = f.Name
	}
	if n := len(names); n < 3 || names[n-3] != "default_proba" || names[n-2] != "model" || names[n-1] != "error" {
		t.Fatalf("columns end %v, want default_proba, model, error", names)
	}
	for i, v := range got.Cols["model"] {
		if v != m.Version {
			t.Fatalf("row %d: model %v, want %s", i, v, m.Version)
		}
	}
	if got.Cols["error"][3] == nil {
		t.Error("row 3 (a null category) has no error: the test lost its error row")
	}

	outJ := filepath.Join(dir, "out.jsonl")
	if _, err := ScoreFile(context.Background(), jl, outJ, Options{Model: m, ModelColumn: true}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(outJ)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(rows) != len(as)+1 {
		t.Fatalf("%d lines, want %d", len(rows), len(as)+1)
	}
	for i, l := range rows {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, l)
		}
		if obj["model"] != m.Version {
			t.Fatalf("line %d: model %v, want %s: %s", i, obj["model"], m.Version, l)
		}
	}

	// CSV to CSV and CSV to Parquet: the model column before the error one.
	csvIn := filepath.Join(dir, "in.csv")
	writeAppsCSV(t, csvIn, as, loan.BoolString)
	outC := filepath.Join(dir, "out.csv")
	if _, err := ScoreFile(context.Background(), csvIn, outC, Options{Model: m, ModelColumn: true}); err != nil {
		t.Fatal(err)
	}
	recs := testkit.ReadCSV(t, outC)
	hdr := recs[0]
	if n := len(hdr); hdr[n-2] != "model" || hdr[n-1] != "error" {
		t.Fatalf("CSV header ends %v", hdr[n-2:])
	}
	for i, rec := range recs[1:] {
		if rec[len(rec)-2] != m.Version {
			t.Fatalf("CSV row %d: model %q", i, rec[len(rec)-2])
		}
	}
	outCP := filepath.Join(dir, "out-csv.parquet")
	if _, err := ScoreFile(context.Background(), csvIn, outCP, Options{Model: m, ModelColumn: true}); err != nil {
		t.Fatal(err)
	}
	if col := arrowtest.Read(t, outCP).Cols["model"]; len(col) != len(as) || col[0] != m.Version || col[len(col)-1] != m.Version {
		t.Errorf("CSV to Parquet: model column %v", col)
	}

	plain := filepath.Join(dir, "plain.parquet")
	if _, err := ScoreFile(context.Background(), pq, plain, Options{Model: m}); err != nil {
		t.Fatal(err)
	}
	if _, ok := arrowtest.Read(t, plain).Cols["model"]; ok {
		t.Error("a model column without ModelColumn")
	}
}
