package leaves

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
)

// TestExplainLightGBM: LightGBM models explain themselves from their data
// counts. Each row's values plus the expected value must add up to the raw
// score leaves computes (an independent walk of the same trees): numerical
// splits with NaN and zero missing types, categorical bitsets (kddcup99),
// dart, several classes, log-link objectives and a random forest. The
// walk itself is checked against Shapley values in package treeshap.
func TestExplainLightGBM(t *testing.T) {
	for _, tc := range []struct{ model, input, delim string }{
		{"lgmulticlass.model", "multiclass_test.tsv", "\t"},
		{"lg_dart_breast_cancer.model", "breast_cancer_test.tsv", "\t"},
		{"lg_kddcup99.model", "kddcup99_test.tsv", "\t"},
		{"genlin_fmtp_poisson_Frequency.model", "genlin_fmtp_poisson_Frequency_features.tsv", "\t"},
		{"lg_rf_iris.model", "", ""},
	} {
		t.Run(tc.model, func(t *testing.T) {
			m, err := LoadLightGBM(readFile(t, tc.model))
			if err != nil {
				t.Fatal(err)
			}
			var b *model.Batch
			if tc.input == "" {
				vals, rows := readLibsvm(t, "iris_test.libsvm", m.Schema().NumFloat)
				b = batchFrom(t, m, vals, rows)
			} else {
				in := readMatrix(t, tc.input, tc.delim, tc.model == "lgmulticlass.model")
				b = batchFrom(t, m, in.Values, in.Rows)
			}
			dims, err := m.Explained()
			if err != nil {
				t.Fatal(err)
			}
			per := m.Schema().NumFloat + 1
			got := make([]float64, b.Rows*model.ExplanationWidth(m.Schema(), dims))
			if err := m.Explain(b, got); err != nil {
				t.Fatal(err)
			}
			raw := predict(t, m, b, model.RawFormulaVal)
			nonzero := 0
			for r := range b.Rows {
				for k := range dims {
					sum := 0.0
					for j, v := range got[(r*dims+k)*per : (r*dims+k+1)*per] {
						sum += v
						if v != 0 && j < per-1 {
							nonzero++
						}
					}
					if want := raw[r*dims+k]; math.Abs(sum-want) > 1e-9*max(1, math.Abs(want)) {
						t.Fatalf("row %d class %d: values add up to %.17g, raw score %.17g", r, k, sum, want)
					}
				}
			}
			if nonzero == 0 {
				t.Error("no feature got a value")
			}
		})
	}
}

// TestExplainRefused: an XGBoost binary file and a LightGBM file without
// data counts still score, and say why they are not explained.
func TestExplainRefused(t *testing.T) {
	x, err := LoadXGBoostBinary(readFile(t, "xgagaricus.model"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Explained(); !errors.Is(err, model.ErrNoExplanation) || !strings.Contains(err.Error(), "save the model as JSON") {
		t.Errorf("XGBoost binary: %v", err)
	}
	stripped := regexp.MustCompile(`(?m)^(leaf|internal)_count=.*\n`).ReplaceAll(readFile(t, "lgmulticlass.model"), nil)
	m, err := LoadLightGBM(stripped)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Explained()
	if !errors.Is(err, model.ErrNoExplanation) || !strings.Contains(err.Error(), "leaf_count") {
		t.Errorf("without counts: %v", err)
	}
	if err := model.Explain(m, model.NewBatch(m.Schema(), 0), nil); !errors.Is(err, model.ErrNoExplanation) {
		t.Errorf("Explain: %v", err)
	}
}
