package worker_test

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/model/xgboost"
)

// testModel returns the demo model embedded in the binary: a real CatBoost
// model of the seed's shape (9 numeric and 9 categorical features,
// interleaved in its flat order), so batches carry categories too.
func testModel(t testing.TB) *model.Loaded {
	t.Helper()
	data := demo.Bytes()
	m, err := catboost.Load(data)
	if err != nil {
		t.Fatalf("load the demo model: %v", err)
	}
	return model.NewLoaded(m, model.Version(demo.Name, data), true)
}

// xgbModel loads a real XGBoost binary classifier trained by XGBoost 1.7.4
// (6 float features), whose predictions the xgboost package checks
// against XGBoost's own: a second backend through the same batcher.
func xgbModel(t testing.TB) *model.Loaded {
	t.Helper()
	path := filepath.Join(testkit.RepoRoot(t), "model", "xgboost", "testdata", "binary_logistic.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := xgboost.Load(data)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return model.NewLoaded(m, model.Version("binary_logistic", data), false)
}

// catValues are category values the demo model saw in training (from the
// seed applications) plus one it never saw.
var catValues = []string{"True", "False", "0", "1", "Other", "NC", "IN", "CA", "SD", "BBCN BANK",
	"WELLS FARGO BANK NATL ASSOC", "N", "Y", "45", "81", "never seen"}

// randomRows returns n rows for s with values spread over the range a
// model's splits care about, some of them missing.
func randomRows(rng *rand.Rand, s *model.Schema, n int) *model.Batch {
	b := model.NewBatch(s, n)
	for range n {
		floats, cats := b.AppendRow()
		for i := range floats {
			if rng.IntN(10) == 0 {
				floats[i] = math.NaN()
			} else {
				floats[i] = rng.NormFloat64() * 2
			}
		}
		for i := range cats {
			cats[i] = catValues[rng.IntN(len(catValues))]
		}
	}
	return b
}

// predictAlone scores b on its own, outside the batcher: the reference
// each job's output is compared with.
func predictAlone(t testing.TB, m *model.Loaded, b *model.Batch) []float64 {
	t.Helper()
	out := make([]float64, b.Rows*m.Width())
	if err := m.Predict(b, m.Prediction, out); err != nil {
		t.Fatal(err)
	}
	return out
}
