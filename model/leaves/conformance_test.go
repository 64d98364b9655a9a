package leaves

import (
	"math/rand/v2"
	"testing"

	"github.com/loan-scorer/loan-scorer/model/modeltest"
)

// TestConformance holds LightGBM text models (binary, dart, multi-class,
// categorical, log-link regressions, a random forest) and XGBoost binary
// models from leaves' testdata to the contract of model.Model (package
// modeltest), on rows around each model's split thresholds.
func TestConformance(t *testing.T) {
	for i, c := range []struct {
		file string
		load func([]byte) (*Model, error)
		rf   bool
	}{
		{"lgmulticlass.model", LoadLightGBM, false},
		{"lg_dart_breast_cancer.model", LoadLightGBM, false},
		{"lg_kddcup99.model", LoadLightGBM, false},
		{"genlin_fmtp_poisson_Frequency.model", LoadLightGBM, false},
		{"genlin_fmtp_tweedie_PurePremium.model", LoadLightGBM, false},
		{"lg_rf_iris.model", LoadLightGBM, true},
		{"xgagaricus.model", LoadXGBoostBinary, false},
		{"xgdermatology.model", LoadXGBoostBinary, false},
	} {
		m, err := c.load(readFile(t, c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		rng := rand.New(rand.NewPCG(uint64(i), 9))
		modeltest.TestModel(t, modeltest.Case{
			Name:             c.file,
			Model:            m,
			Rows:             modeltest.RowsAround(rng, m.Schema(), m.SplitThresholds(), nil, 200),
			SigmoidScale:     m.obj.sigmoid,
			RawIsProbability: m.obj.averageIsProbability,
		})
	}
}
