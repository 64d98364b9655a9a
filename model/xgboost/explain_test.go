package xgboost

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
)

// TestExplainMatchesXGBoost compares with XGBoost 1.7.4's own pred_contribs
// (testdata/shap_expected.json, written by testdata/gen_shap.py) on every
// test model, rows as expected.json records them. XGBoost works in float32:
// values must agree to 2e-6 of the row's largest value, and add up to the
// margin XGBoost predicted to 1e-5.
func TestExplainMatchesXGBoost(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "shap_expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var golden map[string]json.RawMessage
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	cases := readExpected(t)
	if len(golden) != len(cases)+1 {
		t.Fatalf("shap_expected.json has %d entries, expected.json %d cases", len(golden)-1, len(cases))
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var g struct {
				Shape    []int     `json:"shape"`
				Contribs []float64 `json:"contribs"`
			}
			if err := json.Unmarshal(golden[name], &g); err != nil {
				t.Fatal(err)
			}
			m := loadFile(t, c.Model)
			dims, err := m.Explained()
			if err != nil {
				t.Fatal(err)
			}
			b := batchOf(m, c.Rows)
			w := model.ExplanationWidth(m.Schema(), dims)
			got := make([]float64, b.Rows*w)
			if err := m.Explain(b, got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(g.Contribs) || g.Shape[len(g.Shape)-1] != len(m.Schema().Features)+1 {
				t.Fatalf("%d values, XGBoost gave %d (shape %v)", len(got), len(g.Contribs), g.Shape)
			}
			per := len(m.Schema().Features) + 1
			worst := 0.0
			for r := 0; r < len(got)/per; r++ {
				vals, want := got[r*per:(r+1)*per], g.Contribs[r*per:(r+1)*per]
				scale := 0.0
				sum := 0.0
				for j := range want {
					scale = max(scale, math.Abs(want[j]))
					sum += vals[j]
				}
				for j := range want {
					d := math.Abs(vals[j] - want[j])
					worst = max(worst, d/max(1, scale))
					if d > 2e-6*max(1, scale) {
						t.Errorf("row %d value %d: %.9g, XGBoost %.9g", r, j, vals[j], want[j])
					}
				}
				if margin := c.Margin[r]; math.Abs(sum-margin) > 1e-5*max(1, math.Abs(margin)) {
					t.Errorf("row %d: values add up to %.9g, XGBoost's margin %.9g", r, sum, margin)
				}
			}
			t.Logf("largest difference from XGBoost %.3g of the row's largest value", worst)
		})
	}
}

// TestExplainWithoutStatistics: a model file without sum_hessian still
// scores, and its explanations are refused with the reason.
func TestExplainWithoutStatistics(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "binary_logistic.json"))
	if err != nil {
		t.Fatal(err)
	}
	stripped := strings.ReplaceAll(string(data), `"sum_hessian"`, `"sum_hessian_dropped"`)
	m, err := Load([]byte(stripped))
	if err != nil {
		t.Fatal(err)
	}
	b := model.NewBatch(m.Schema(), 1)
	b.AppendRow()
	if err := m.Predict(b, model.RawFormulaVal, make([]float64, 1)); err != nil {
		t.Fatalf("Predict: %v", err)
	}
	_, err = m.Explained()
	if !errors.Is(err, model.ErrNoExplanation) || !strings.Contains(err.Error(), "sum_hessian") {
		t.Errorf("Explained: %v, want ErrNoExplanation naming sum_hessian", err)
	}
}
