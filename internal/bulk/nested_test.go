package bulk

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/loan"
)

// withTags is an application with a list column the model does not read.
type withTags struct {
	loan.Application
	Tags []string `parquet:"tags,list"`
}

// TestScorePassesNestedColumnsThrough checks that a list column survives
// scoring unchanged (read back with arrow-go), in its place.
func TestScorePassesNestedColumnsThrough(t *testing.T) {
	m := demoModel(t)
	as := apps(100)
	want := expected(t, m, as)
	rows := make([]withTags, len(as))
	for i := range rows {
		rows[i] = withTags{Application: as[i], Tags: slices.Repeat([]string{"t"}, i%4)}
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "out.parquet")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[withTags](f)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := ScoreFile(context.Background(), in, out, Options{Model: m, Batch: 7}); err != nil {
		t.Fatal(err)
	}
	got := arrowtest.Read(t, out)
	if got.Fields[len(got.Fields)-2].Name != "tags" || got.Fields[len(got.Fields)-1].Name != "default_proba" {
		t.Fatalf("fields %v", got.Fields)
	}
	for i := range as {
		if got.Cols["default_proba"][i] != want[i] {
			t.Errorf("row %d: default_proba %v, want %v", i, got.Cols["default_proba"][i], want[i])
		}
		tags, _ := got.Cols["tags"][i].([]string)
		if len(tags) != i%4 {
			t.Errorf("row %d: tags %v, want %d", i, got.Cols["tags"][i], i%4)
		}
	}
}
