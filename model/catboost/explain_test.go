package catboost

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
)

// explainAll explains every row of b in one call.
func explainAll(t testing.TB, m *Model, b *model.Batch) ([]float64, int) {
	t.Helper()
	dims, err := m.Explained()
	if err != nil {
		t.Fatalf("Explained: %v", err)
	}
	out := make([]float64, b.Rows*model.ExplanationWidth(m.Schema(), dims))
	if err := m.Explain(b, out); err != nil {
		t.Fatalf("Explain: %v", err)
	}
	return out, dims
}

// TestExplainMatchesCatBoost compares with the SHAP values real CatBoost
// computed (get_feature_importance(type='ShapValues')) for an oblivious and
// a non-symmetric model, in both file formats.
func TestExplainMatchesCatBoost(t *testing.T) {
	dir := fixtureDir(t)
	for _, folder := range []string{"cbrs-shap-oblivious", "cbrs-shap-nonsym"} {
		var man struct {
			ModelFiles []string `json:"model_files"`
			Cases      []struct {
				parityCase
				Shap []float64 `json:"expected_shap"`
			} `json:"cases"`
		}
		readJSON(t, filepath.Join(dir, folder, "manifest.json"), &man)
		if len(man.Cases) == 0 || len(man.ModelFiles) == 0 {
			t.Fatalf("%s: no cases or model files", folder)
		}
		cases := make([]parityCase, len(man.Cases))
		for i, c := range man.Cases {
			cases[i] = c.parityCase
		}
		for _, file := range man.ModelFiles {
			t.Run(folder+"/"+file, func(t *testing.T) {
				m, err := LoadFile(filepath.Join(dir, folder, file))
				if err != nil {
					t.Fatal(err)
				}
				b := parityBatch(t, m.Schema(), cases)
				got, dims := explainAll(t, m, b)
				w := model.ExplanationWidth(m.Schema(), dims)
				worst := 0.0
				for i, c := range man.Cases {
					if len(c.Shap) != w {
						t.Fatalf("case %d: %d expected values, explanation width %d", i, len(c.Shap), w)
					}
					for j, want := range c.Shap {
						d := math.Abs(got[i*w+j] - want)
						worst = max(worst, d)
						if d > 1e-9 {
							t.Errorf("case %d value %d: got %.17g, CatBoost %.17g", i, j, got[i*w+j], want)
						}
					}
				}
				t.Logf("%d rows, largest difference from CatBoost %.3g", len(man.Cases), worst)
			})
		}
	}
}

// TestExplainAddsUp checks, on every fixture model file, that each row's
// values plus the expected value give the row's raw prediction, for the
// fixture's own cases and for generated rows. The one fixture CatBoost
// itself cannot explain without its training data (kiwi-regression, an old
// Ordered-boosting model with values in zero-weight leaves) must be refused
// with that reason.
func TestExplainAddsUp(t *testing.T) {
	dir := fixtureDir(t)
	for name, path := range fixtureModels(t) {
		t.Run(name, func(t *testing.T) {
			m, err := LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Explained(); err != nil {
				if strings.HasPrefix(name, "kiwi-regression/") && errors.Is(err, model.ErrNoExplanation) && strings.Contains(err.Error(), "weight 0") {
					return
				}
				t.Fatalf("Explained: %v", err)
			}
			_, cases := readParityCases(t, filepath.Join(dir, strings.Split(name, "/")[0]))
			b := parityBatch(t, m.Schema(), cases)
			checkAddsUp(t, m, b)
			checkAddsUp(t, m, RandomBatch(rand.New(rand.NewPCG(7, uint64(len(name)))), m.Definition(), 300))
		})
	}
}

// checkAddsUp compares Σ values + expected value with RawFormulaVal for
// every row and dimension of b, to 1e-9 relative.
func checkAddsUp(t *testing.T, m *Model, b *model.Batch) {
	t.Helper()
	got, dims := explainAll(t, m, b)
	raw := make([]float64, b.Rows*m.Output().Dimension)
	if err := m.Predict(b, model.RawFormulaVal, raw); err != nil {
		t.Fatal(err)
	}
	nf := len(m.Schema().Features)
	for r := range b.Rows {
		for k := range dims {
			vals := got[(r*dims+k)*(nf+1) : (r*dims+k+1)*(nf+1)]
			sum := 0.0
			for _, v := range vals {
				sum += v
			}
			want := raw[r*m.Output().Dimension+k]
			if d := math.Abs(sum - want); d > 1e-9*max(1, math.Abs(want)) {
				t.Fatalf("row %d dimension %d: values add up to %.17g, prediction %.17g (off by %.3g)", r, k, sum, want, d)
			}
		}
	}
}

// TestExplainWithoutLeafWeights: a model without leaf weights still scores
// and says why it cannot explain.
func TestExplainWithoutLeafWeights(t *testing.T) {
	d := Random(rand.New(rand.NewPCG(1, 2)), DefaultRandomConfig())
	for i := range d.Oblivious {
		d.Oblivious[i].LeafWeights = nil
	}
	m, err := Compile(d)
	if err != nil {
		t.Fatal(err)
	}
	b := RandomBatch(rand.New(rand.NewPCG(3, 4)), d, 10)
	if err := m.Predict(b, model.RawFormulaVal, make([]float64, 10)); err != nil {
		t.Fatalf("Predict: %v", err)
	}
	_, err = m.Explained()
	if !errors.Is(err, model.ErrNoExplanation) || !strings.Contains(err.Error(), "no leaf weights") {
		t.Fatalf("Explained: %v, want ErrNoExplanation naming the missing leaf weights", err)
	}
	if err := m.Explain(b, make([]float64, 10*model.ExplanationWidth(m.Schema(), 1))); !errors.Is(err, model.ErrNoExplanation) {
		t.Fatalf("Explain: %v, want ErrNoExplanation", err)
	}
}

// TestExplainBatchErrors: a batch or an output slice that does not fit.
func TestExplainBatchErrors(t *testing.T) {
	d := Random(rand.New(rand.NewPCG(5, 6)), DefaultRandomConfig())
	withLeafWeights(rand.New(rand.NewPCG(5, 7)), d)
	m, err := Compile(d)
	if err != nil {
		t.Fatal(err)
	}
	b := RandomBatch(rand.New(rand.NewPCG(7, 8)), d, 3)
	w := model.ExplanationWidth(m.Schema(), 1)
	if err := m.Explain(b, make([]float64, 3*w-1)); !errors.Is(err, ErrBatch) {
		t.Errorf("short output: %v, want ErrBatch", err)
	}
	b.NumFloat++
	if err := m.Explain(b, make([]float64, 3*w)); !errors.Is(err, ErrBatch) {
		t.Errorf("misshapen batch: %v, want ErrBatch", err)
	}
}

func ExampleModel_Explain() {
	d := Random(rand.New(rand.NewPCG(1, 1)), DefaultRandomConfig())
	withLeafWeights(rand.New(rand.NewPCG(1, 2)), d) // CatBoost stores them by default
	m, _ := Compile(d)
	b := RandomBatch(rand.New(rand.NewPCG(2, 2)), d, 1)
	dims, _ := m.Explained()
	out := make([]float64, model.ExplanationWidth(m.Schema(), dims))
	_ = m.Explain(b, out)
	raw := make([]float64, 1)
	_ = m.Predict(b, model.RawFormulaVal, raw)
	sum := 0.0
	for _, v := range out {
		sum += v
	}
	fmt.Printf("%d values, they add up to the prediction: %v\n", len(out), math.Abs(sum-raw[0]) < 1e-9)
	// Output: 8 values, they add up to the prediction: true
}

// TestExplainConcurrent: goroutines sharing a model, the first calls racing
// to prepare the explanations, get the same values as one goroutine alone.
func TestExplainConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	d := Random(rng, DefaultRandomConfig())
	withLeafWeights(rng, d)
	b := RandomBatch(rng, d, 40)
	m, err := Compile(d)
	if err != nil {
		t.Fatal(err)
	}
	w := model.ExplanationWidth(m.Schema(), 1)
	outs := make([][]float64, 4)
	done := make(chan error, len(outs))
	for g := range outs {
		outs[g] = make([]float64, b.Rows*w)
		go func() { done <- m.Explain(b, outs[g]) }()
	}
	for range outs {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	alone, err := Compile(d)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := explainAll(t, alone, b)
	for g, got := range outs {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("goroutine %d value %d: %v, alone %v", g, i, got[i], want[i])
			}
		}
	}
}

// TestExplainAllocatesNothing: explanations of a prepared model, and
// Unseen and PredictUnseen, take their scratch memory from pools.
func TestExplainAllocatesNothing(t *testing.T) {
	if testkit.RaceEnabled {
		t.Skip("pooled buffers are dropped at random under -race (scripts/test.sh runs this without)")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for _, sym := range []bool{true, false} {
		cfg := DefaultRandomConfig()
		cfg.Symmetric = sym
		d := Random(rng, cfg)
		withLeafWeights(rng, d)
		m, err := Compile(d)
		if err != nil {
			t.Fatal(err)
		}
		b := RandomBatch(rng, d, 100)
		out, _ := explainAll(t, m, b)
		if allocs := testing.AllocsPerRun(20, func() { _ = m.Explain(b, out) }); allocs != 0 {
			t.Errorf("symmetric %v: %v allocations per Explain", sym, allocs)
		}
		flags := make([]bool, b.Rows*b.NumCat)
		if allocs := testing.AllocsPerRun(20, func() { _ = m.Unseen(b, flags) }); allocs != 0 {
			t.Errorf("symmetric %v: %v allocations per Unseen", sym, allocs)
		}
		raw := make([]float64, b.Rows*d.ApproxDimension)
		if allocs := testing.AllocsPerRun(20, func() { _ = m.PredictUnseen(b, model.RawFormulaVal, raw, flags) }); allocs != 0 {
			t.Errorf("symmetric %v: %v allocations per PredictUnseen", sym, allocs)
		}
	}
}
