package bulk

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/loan-scorer/loan-scorer/loan"
)

// benchInput writes n generated applications with the gen command's
// Parquet writer.
func benchInput(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "in.parquet")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := loan.NewParquet(f, false)
	g := loan.NewGenerator(1)
	for range n {
		l := g.Labeled()
		if err := w.Write(&l); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path
}

// BenchmarkScoreFile reports rows/s of scoring a generated Parquet file
// next to the copy-through baseline (same reader and writer, scoring
// replaced by a constant).
func BenchmarkScoreFile(b *testing.B) {
	const n = 200_000
	in := benchInput(b, n)
	m := demoModel(b)
	for _, mode := range []struct {
		name string
		copy bool
	}{{"score", false}, {"copy-through", true}} {
		b.Run(mode.name, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "out.parquet")
			for b.Loop() {
				if _, err := ScoreFile(context.Background(), in, out, Options{Model: m, CopyThrough: mode.copy}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
