package bulk

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/buildinfo"
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
	// The same applications as CSV (header and cells as TestScoreCSV
	// writes them), whose Parquet output goes through the text path.
	csvIn := filepath.Join(dir, "in.csv")
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	_ = w.Write(loan.FlatFields())
	for i := range as {
		var obj map[string]any
		_ = json.Unmarshal(as[i].AppendJSON(nil), &obj)
		var rec []string
		for _, f := range loan.FlatFields() {
			switch v := obj[f].(type) {
			case nil:
				rec = append(rec, "")
			case bool:
				rec = append(rec, loan.BoolString(v))
			case float64:
				rec = append(rec, strconv.FormatFloat(v, 'g', -1, 64))
			default:
				rec = append(rec, v.(string))
			}
		}
		_ = w.Write(rec)
	}
	w.Flush()
	if err := os.WriteFile(csvIn, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
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
