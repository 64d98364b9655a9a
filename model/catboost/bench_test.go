package catboost

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/demo"
)

// benchFixtures are the float-only fixture models the speed targets name.
var benchFixtures = []string{
	"gocb-float-binary/model.cbm",     // 150 trees, depth 6, 5 features
	"gocb-deep-trees/model.cbm",       // 100 trees, depth 8
	"gocb-many-borders/model.cbm",     // > 254 borders on a feature
	"gocb-float-regression/model.cbm", // 200 trees, depth 6
	"gocb-nonsym-regression/model.cbm",
	"gocb-multiclass-5/model.cbm",
}

// benchPool is the number of distinct input rows a benchmark cycles through,
// so the branch predictor cannot learn them.
const benchPool = 4096

// BenchmarkPredict measures Predict (RawFormulaVal) per model and batch size,
// reporting ns per row and per tree·row. It reports and never asserts: run
// it with -cpu 1 on a quiet machine (docs/PERFORMANCE.md).
func BenchmarkPredict(b *testing.B) {
	for _, file := range benchFixtures {
		name := filepath.Dir(file)
		b.Run("model="+name, func(b *testing.B) {
			m, err := LoadFile(filepath.Join(fixtureDir(b), file))
			if err != nil {
				b.Fatal(err)
			}
			benchModel(b, m)
		})
	}
	b.Run("model=loan-shaped", func(b *testing.B) {
		d := Random(rand.New(rand.NewPCG(1, 1)), LoanShapedConfig())
		m, err := Compile(d)
		if err != nil {
			b.Fatal(err)
		}
		benchModel(b, m)
	})
}

func benchModel(b *testing.B, m *Model) {
	d := m.Definition()
	trees := len(d.Oblivious) + len(d.Trees)
	pool := RandomBatch(rand.New(rand.NewPCG(7, 7)), d, benchPool)
	for _, rows := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			out := make([]float64, rows*m.Output().Dimension)
			batches := make([]*model.Batch, benchPool/rows)
			for i := range batches {
				batches[i] = subBatch(pool, i*rows, rows)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := m.Predict(batches[i], model.RawFormulaVal, out); err != nil {
					b.Fatal(err)
				}
				i++
				if i == len(batches) {
					i = 0
				}
			}
			perRow := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(rows)
			b.ReportMetric(perRow, "ns/row")
			b.ReportMetric(perRow/float64(trees), "ns/tree·row")
		})
	}
}

// BenchmarkExplain measures Explain beside Predict on the demo model and the
// loan-shaped random model, per batch size, reporting ns per row. It reports
// and never asserts; `scorer model bench --explain` gives the same figures
// for any model file.
func BenchmarkExplain(b *testing.B) {
	demoModel, err := Load(demo.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	loan := Random(rand.New(rand.NewPCG(1, 1)), LoanShapedConfig())
	withLeafWeights(rand.New(rand.NewPCG(1, 2)), loan)
	loanModel, err := Compile(loan)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		m    *Model
	}{{"loan-demo", demoModel}, {"loan-shaped", loanModel}} {
		b.Run("model="+c.name, func(b *testing.B) {
			m := c.m
			dims, err := m.Explained()
			if err != nil {
				b.Fatal(err)
			}
			pool := RandomBatch(rand.New(rand.NewPCG(7, 7)), m.Definition(), benchPool)
			for _, rows := range []int{1, 64, 1024} {
				b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
					out := make([]float64, rows*model.ExplanationWidth(m.Schema(), dims))
					batches := make([]*model.Batch, benchPool/rows)
					for i := range batches {
						batches[i] = subBatch(pool, i*rows, rows)
					}
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						if err := m.Explain(batches[i], out); err != nil {
							b.Fatal(err)
						}
						i = (i + 1) % len(batches)
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
				})
			}
		})
	}
}
