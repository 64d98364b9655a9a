package xgboost

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
)

// BenchmarkPredict scores random rows (values spread over the split range,
// 5 % missing) in batches of 1, 64 and 1024; it reports ns per row.
func BenchmarkPredict(b *testing.B) {
	for _, name := range []string{"binary_logistic.json", "regression_named.json", "multi_softprob.json"} {
		m := loadFile(b, name)
		rng := rand.New(rand.NewPCG(1, 2))
		for _, rows := range []int{1, 64, 1024} {
			batch := model.NewBatch(m.Schema(), rows)
			for range rows {
				floats, _ := batch.AppendRow()
				for i := range floats {
					if rng.IntN(20) != 0 {
						floats[i] = rng.NormFloat64() * 3
					}
				}
			}
			p := model.RawFormulaVal
			out := make([]float64, rows*m.Output().Width(p))
			b.Run(fmt.Sprintf("%s/rows=%d", name, rows), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := m.Predict(batch, p, out); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows*len(m.roots)), "ns/tree·row")
			})
		}
	}
}
