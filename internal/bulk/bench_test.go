package bulk

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/loan-scorer/loan-scorer/loan"
	"github.com/loan-scorer/loan-scorer/model"
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
	benchScoreModes(b, in, "out.parquet", n)
}

// BenchmarkEvaluator reports the demo model's own rows/s on one goroutine
// (batches of 4096 generated applications, decoded once outside the
// timer): the ceiling scoring would have without reading and writing.
// Beside Predict alone: Predict then Unseen, and the one-pass
// PredictUnseen a bulk run uses to count unseen values.
func BenchmarkEvaluator(b *testing.B) {
	m := demoModel(b)
	const n = 4096
	g := loan.NewGenerator(1)
	as := make([]loan.Application, n)
	for i := range as {
		as[i] = g.Next()
	}
	batch := jsonBatch(b, m, as)
	out := make([]float64, n)
	flags := make([]bool, n*batch.NumCat)
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"predict", func() error { return m.Predict(batch, m.Prediction, out) }},
		{"predict+unseen", func() error {
			if err := m.Predict(batch, m.Prediction, out); err != nil {
				return err
			}
			return model.Unseen(m.Model, batch, flags)
		}},
		{"predict-unseen", func() error { return model.PredictUnseen(m.Model, batch, m.Prediction, out, flags) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkScoreJSONL reports rows/s of scoring a generated JSON lines
// file (the lines `scorer gen` writes, without labels) with the demo model, next to the
// copy-through baseline (same reading and writing, scoring replaced by a
// constant).
func BenchmarkScoreJSONL(b *testing.B) {
	const n = 200_000
	in := filepath.Join(b.TempDir(), "in.jsonl")
	var buf []byte
	g := loan.NewGenerator(1)
	for range n {
		a := g.Next()
		buf = append(a.AppendJSON(buf), '\n')
	}
	if err := os.WriteFile(in, buf, 0o644); err != nil {
		b.Fatal(err)
	}
	benchScoreModes(b, in, "out.jsonl", n)
}

// benchScoreModes reports rows/s of scoring the n rows of in with the demo
// model into a file named out, and of the copy-through baseline.
func benchScoreModes(b *testing.B, in, out string, n int) {
	m := demoModel(b)
	for _, mode := range []struct {
		name string
		copy bool
	}{{"score", false}, {"copy-through", true}} {
		b.Run(mode.name, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), out)
			for b.Loop() {
				if _, err := ScoreFile(context.Background(), in, out, Options{Model: m, CopyThrough: mode.copy}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
