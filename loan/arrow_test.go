package loan

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
)

// TestParquetReadByArrow reads a generated file with Apache Arrow's Parquet
// implementation, independent of the parquet-go that wrote it: column
// types, nullability and every value must come back as written.
func TestParquetReadByArrow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "loans.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := NewParquet(f, true)
	g := NewGenerator(23)
	const n = 6000
	want := make([]Labeled, n)
	for i := range want {
		want[i] = g.Labeled()
		if err := w.Write(&want[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	tbl := arrowtest.Read(t, path)
	if tbl.Rows != n {
		t.Fatalf("%d rows, want %d", tbl.Rows, n)
	}
	wantTypes := map[string]arrowtest.Field{
		"Term": {Type: "int32"}, "NoEmp": {Type: "int32", Nullable: true}, "CreateJob": {Type: "int32"},
		"RetainedJob": {Type: "int32"}, "longitude": {Type: "float64", Nullable: true},
		"latitude": {Type: "float64", Nullable: true}, "GrAppv": {Type: "float64"}, "SBA_Appv": {Type: "float64"},
		"is_new": {Type: "bool"}, "FranchiseCode": {Type: "utf8"}, "UrbanRural": {Type: "int32"},
		"City": {Type: "utf8"}, "State": {Type: "utf8"}, "Bank": {Type: "utf8"}, "BankState": {Type: "utf8"},
		"RevLineCr": {Type: "utf8"}, "naics_first_two": {Type: "utf8"}, "same_state": {Type: "bool"},
		"default": {Type: "int32"}, "default_proba_true": {Type: "float64"},
	}
	if len(tbl.Fields) != len(wantTypes) {
		t.Fatalf("%d columns, want %d", len(tbl.Fields), len(wantTypes))
	}
	for _, fl := range tbl.Fields {
		wt, ok := wantTypes[fl.Name]
		if !ok || fl.Type != wt.Type || fl.Nullable != wt.Nullable {
			t.Errorf("column %s: %s nullable %v, want %s nullable %v", fl.Name, fl.Type, fl.Nullable, wt.Type, wt.Nullable)
		}
	}
	optI := func(p *int32) any {
		if p == nil {
			return nil
		}
		return int64(*p)
	}
	optF := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	for i := range want {
		a := &want[i].Application
		row := map[string]any{
			"Term": int64(a.Term), "NoEmp": optI(a.NoEmp), "CreateJob": int64(a.CreateJob),
			"RetainedJob": int64(a.RetainedJob), "longitude": optF(a.Longitude), "latitude": optF(a.Latitude),
			"GrAppv": a.GrAppv, "SBA_Appv": a.SBAAppv, "is_new": a.IsNew, "FranchiseCode": a.FranchiseCode,
			"UrbanRural": int64(a.UrbanRural), "City": a.City, "State": a.State, "Bank": a.Bank,
			"BankState": a.BankState, "RevLineCr": a.RevLineCr, "naics_first_two": a.NAICS,
			"same_state": a.SameState, "default": int64(want[i].Default),
			"default_proba_true": want[i].DefaultProbaTrue,
		}
		for name, v := range row {
			if got := tbl.Cols[name][i]; got != v {
				t.Fatalf("row %d column %s: arrow read %v (%T), wrote %v (%T)", i, name, got, got, v, v)
			}
		}
	}
}
