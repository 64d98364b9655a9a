package catboost

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
)

// FuzzExplain feeds arbitrary model bytes (JSON or .cbm) to the loaders and
// explains what they accept: leaf weights and node weights as decoded, one-
// child nodes, zero and odd weights. Property: Explained either refuses
// with model.ErrNoExplanation or Explain succeeds, never panics, and each
// row's values add up to its raw prediction wherever both are finite
// (MultiClass models: up to one shift shared by every class, which is what
// CatBoost's values relative to the tree's mean over classes leave for a
// row in a zero-weight leaf; see shap_plan.go); Unseen never panics either.
func FuzzExplain(f *testing.F) {
	boundMinimization(f)
	for _, name := range []string{"cbrs-shap-oblivious/model.json", "cbrs-shap-oblivious/model.cbm", "cbrs-shap-nonsym/model.cbm", "gocb-single-tree/model.cbm", "gocb-unknown-cat/model.cbm"} {
		if path, ok := fuzzFixtures(f)[name]; ok {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for seed := range uint64(4) {
		cfg := DefaultRandomConfig()
		cfg.Trees, cfg.Symmetric, cfg.Dimension, cfg.Depth = 3, seed%2 == 0, 1+int(seed)%3, 3
		rng := rand.New(rand.NewPCG(seed, 5))
		d := Random(rng, cfg)
		withLeafWeights(rng, d)
		var buf bytes.Buffer
		if err := writeJSON(d, &buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(data)
		if err != nil {
			return
		}
		b := RandomBatch(rand.New(rand.NewPCG(1, 1)), m.Definition(), 3)
		if err := m.Unseen(b, make([]bool, b.Rows*b.NumCat)); err != nil {
			t.Fatalf("Unseen: %v", err)
		}
		dims, err := m.Explained()
		if err != nil {
			if !errors.Is(err, model.ErrNoExplanation) {
				t.Fatalf("Explained: %v does not wrap ErrNoExplanation", err)
			}
			return
		}
		nf := len(m.Schema().Features)
		out := make([]float64, b.Rows*model.ExplanationWidth(m.Schema(), dims))
		if err := m.Explain(b, out); err != nil {
			t.Fatalf("Explain: %v", err)
		}
		raw := make([]float64, b.Rows*m.Output().Dimension)
		if err := m.Predict(b, model.RawFormulaVal, raw); err != nil {
			t.Fatalf("Predict: %v", err)
		}
		multiClass := isMultiClass(m.Output())
		for r := range b.Rows {
			shift := 0.0
			for k := range dims {
				sum, scale := 0.0, 0.0
				for _, v := range out[(r*dims+k)*(nf+1) : (r*dims+k+1)*(nf+1)] {
					sum += v
					scale = max(scale, math.Abs(v))
				}
				want := raw[r*m.Output().Dimension+k]
				if math.IsInf(sum, 0) || math.IsNaN(sum) || math.IsInf(want, 0) || scale > 1e100 {
					continue
				}
				if multiClass && k == 0 {
					shift = sum - want
				}
				if math.Abs(sum-want-shift) > 1e-6*max(1, math.Abs(want), scale) {
					t.Fatalf("row %d dimension %d: values add up to %v, prediction %v (shift %v)", r, k, sum, want, shift)
				}
			}
		}
	})
}
