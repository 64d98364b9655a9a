package catboost

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
)

// The parity suite: every model file of every fixture folder, every case,
// against the predictions real CatBoost made (see the fixtures' README.md).
// Raw values must match to the last bit; transformed values within the
// case's tolerance (CatBoost uses a fast exp for some of them, spec §4.2).

// parityManifest is a fixture folder's manifest.json.
type parityManifest struct {
	ModelFiles []string     `json:"model_files"`
	Cases      []parityCase `json:"cases"`
}

type parityCase struct {
	Floats    []*float64 `json:"float_features"`
	Cats      []string   `json:"cat_features"`
	Raw       []float64  `json:"expected_raw"`
	Prob      []float64  `json:"expected_probability"`
	Class     *float64   `json:"expected_class"`
	Exponent  []float64  `json:"expected_exponent"`
	MultiProb []float64  `json:"expected_multi_probability_sigmoid"`
	Softmax   []float64  `json:"expected_probability_softmax_capi"`
	Tolerance float64    `json:"tolerance"`
}

// parityExpectedTest is the go-catboost expected_test.json layout: samples
// and one prediction row each, of the file's prediction_type (RawFormulaVal
// when absent; for Class, the class index first).
type parityExpectedTest struct {
	Samples []struct {
		Floats []*float64 `json:"floats"`
		Cats   []string   `json:"cats"`
	} `json:"samples"`
	Predictions    [][]float64 `json:"predictions"`
	PredictionType string      `json:"prediction_type"`
}

// readParityCases returns a folder's cases from its manifest and, when
// present, from expected_test.json, and the manifest.
func readParityCases(t *testing.T, dir string) (parityManifest, []parityCase) {
	var man parityManifest
	readJSON(t, filepath.Join(dir, "manifest.json"), &man)
	cases := slices.Clone(man.Cases)
	path := filepath.Join(dir, "expected_test.json")
	if _, err := os.Stat(path); err != nil {
		return man, cases
	}
	var et parityExpectedTest
	readJSON(t, path, &et)
	if len(et.Samples) != len(et.Predictions) {
		t.Fatalf("%s: %d samples, %d predictions", path, len(et.Samples), len(et.Predictions))
	}
	for i, s := range et.Samples {
		c := parityCase{Floats: s.Floats, Cats: s.Cats, Tolerance: 1e-9}
		pred := et.Predictions[i]
		switch et.PredictionType {
		case "", "RawFormulaVal":
			c.Raw = pred
		case "Probability":
			c.Prob = pred
		case "Exponent":
			c.Exponent = pred
		case "Class":
			c.Class = &pred[0]
		default:
			t.Fatalf("%s: unknown prediction_type %q", path, et.PredictionType)
		}
		cases = append(cases, c)
	}
	return man, cases
}

// parityBatch lays the cases out as a batch: the case arrays hold the float
// and the categorical features in flat order; the model's schema says which
// slot each one fills.
func parityBatch(t *testing.T, s *model.Schema, cases []parityCase) *model.Batch {
	b := model.NewBatch(s, len(cases))
	var floatSlots, catSlots []int
	for _, f := range s.Features {
		if f.Kind == model.Float {
			floatSlots = append(floatSlots, f.Index)
		} else {
			catSlots = append(catSlots, f.Index)
		}
	}
	for i, c := range cases {
		if len(c.Floats) != len(floatSlots) || len(c.Cats) != len(catSlots) {
			t.Fatalf("case %d has %d floats and %d categories, model has %d and %d",
				i, len(c.Floats), len(c.Cats), len(floatSlots), len(catSlots))
		}
		floats, cats := b.AppendRow()
		for k, v := range c.Floats {
			if v != nil {
				floats[floatSlots[k]] = *v // null stays NaN
			}
		}
		for k, v := range c.Cats {
			cats[catSlots[k]] = v
		}
	}
	return b
}

// predictInBatches predicts b in batches of size rows at a time.
func predictInBatches(m *Model, b *model.Batch, p model.PredictionType, size int) ([]float64, error) {
	w := m.Output().Width(p)
	out := make([]float64, b.Rows*w)
	for start := 0; start < b.Rows; start += size {
		n := min(size, b.Rows-start)
		if err := m.Predict(subBatch(b, start, n), p, out[start*w:(start+n)*w]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func TestParity(t *testing.T) {
	root := fixtureDir(t)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	models, rows := 0, 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		man, cases := readParityCases(t, dir)
		for _, file := range man.ModelFiles {
			t.Run(e.Name()+"/"+file, func(t *testing.T) {
				m, err := LoadFile(filepath.Join(dir, file))
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				if len(cases) == 0 {
					t.Fatal("model without cases")
				}
				b := parityBatch(t, m.Schema(), cases)
				checkReference(t, m.Definition(), b, cases)
				var wg sync.WaitGroup
				for range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for _, size := range []int{1, 7, b.Rows} {
							if err := checkParity(m, b, cases, size); err != nil {
								t.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				if err := checkParity(m, b, cases, b.Rows); err != nil {
					t.Error(err)
				}
			})
			models++
			rows += len(cases)
		}
	}
	if models == 0 {
		t.Fatalf("no fixture models under %s", root)
	}
	t.Logf("%d model files, %d cases", models, rows)
}

// checkReference checks the reference evaluator alone against CatBoost's raw
// values: the reference is what the differential tests trust.
func checkReference(t *testing.T, d *Definition, b *model.Batch, cases []parityCase) {
	t.Helper()
	for i, c := range cases {
		if c.Raw == nil {
			continue
		}
		f, cs := b.Row(i)
		got := referenceRaw(d, f, cs)
		if !slices.EqualFunc(got, c.Raw, sameBits) {
			t.Errorf("reference case %d: raw %v, CatBoost %v", i, got, c.Raw)
		}
	}
}

// checkParity predicts every type the cases expect, in batches of size, and
// compares.
func checkParity(m *Model, b *model.Batch, cases []parityCase, size int) error {
	o := m.Output()
	preds := map[model.PredictionType][]float64{}
	get := func(p model.PredictionType) ([]float64, error) {
		if v, ok := preds[p]; ok {
			return v, nil
		}
		v, err := predictInBatches(m, b, p, size)
		if err != nil {
			return nil, fmt.Errorf("batch %d: predict %v: %w", size, p, err)
		}
		preds[p] = v
		return v, nil
	}
	row := func(p model.PredictionType, i int) ([]float64, error) {
		v, err := get(p)
		if err != nil {
			return nil, err
		}
		w := o.Width(p)
		return v[i*w : (i+1)*w], nil
	}
	for i, c := range cases {
		check := func(what string, p model.PredictionType, want []float64, exact bool, derive func([]float64) []float64) error {
			if want == nil {
				return nil
			}
			got, err := row(p, i)
			if err != nil {
				return err
			}
			if derive != nil {
				got = derive(got)
			}
			if len(got) != len(want) {
				return fmt.Errorf("batch %d case %d %s: %d values, want %d", size, i, what, len(got), len(want))
			}
			for k := range want {
				if exact && !sameBits(got[k], want[k]) {
					return fmt.Errorf("batch %d case %d %s[%d] = %v, CatBoost %v (not bit-identical)", size, i, what, k, got[k], want[k])
				}
				if math.Abs(got[k]-want[k]) > c.Tolerance {
					return fmt.Errorf("batch %d case %d %s[%d] = %v, CatBoost %v (tolerance %g)", size, i, what, k, got[k], want[k], c.Tolerance)
				}
			}
			return nil
		}
		softmaxOf := func(raw []float64) []float64 {
			out := make([]float64, len(raw))
			tr := model.Transform{Task: model.MultiClassification, Dimension: len(raw)}
			tr.Apply(model.Probability, raw, out)
			return out
		}
		var class []float64
		if c.Class != nil {
			class = []float64{*c.Class}
		}
		for _, err := range []error{
			check("raw", model.RawFormulaVal, c.Raw, true, nil),
			check("probability", model.Probability, c.Prob, false, nil),
			check("class", model.Class, class, true, nil),
			check("exponent", model.Exponent, c.Exponent, false, nil),
			check("multi-probability", model.MultiProbability, c.MultiProb, false, nil),
			check("C API softmax", model.RawFormulaVal, c.Softmax, false, softmaxOf),
		} {
			if err != nil {
				return err
			}
		}
		if c.Class != nil {
			if k := int(*c.Class); k < 0 || k >= len(o.ClassLabels) {
				return fmt.Errorf("case %d: class %d has no label in %q", i, k, o.ClassLabels)
			}
		}
	}
	return nil
}

// TestFixtureOutputs checks what the model reports about itself against the
// fixtures' manifests (task, loss, class names, feature names).
func TestFixtureOutputs(t *testing.T) {
	root := fixtureDir(t)
	cases := []struct {
		file      string
		task      model.Task
		loss      string
		dim       int
		labels    []string
		names     []string
		symmetric bool
		version   string
	}{
		{"gocb-float-binary/model.cbm", model.BinaryClassification, "Logloss", 1, []string{"0", "1"}, []string{"0", "1", "2", "3", "4"}, true, "1.2.10"},
		{"gocb-multiclass-3/model.json.gz", model.MultiClassification, "MultiClass", 3, []string{"0", "1", "2"}, nil, true, "1.2.10"},
		{"gocb-float-regression/model.cbm", model.Regression, "RMSE", 1, nil, nil, true, "1.2.10"},
		{"gocb-nonsym-regression/model.json.gz", model.Regression, "RMSE", 1, nil, nil, false, "1.2.10"},
		{"rwg-multilabel/model.cbm", model.MultiLabel, "MultiLogloss", 4, []string{"0", "1", "2", "3"}, nil, true, "1.2.10"},
		{"rwg-iris-multiclass/model.cbm", model.MultiClassification, "MultiClass", 3, []string{"0", "1", "2"}, nil, true, ""},
		{"rwg-churn-mixed/model.cbm", model.BinaryClassification, "Logloss", 1, []string{"0", "1"}, []string{"tenure_months", "monthly_spend", "tier", "region"}, true, ""},
		{"cb4j-numeric-only/model.json", model.Regression, "", 1, nil, []string{"0", "1", "2"}, true, ""},
	}
	for _, c := range cases {
		m, err := LoadFile(filepath.Join(root, c.file))
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		o := m.Output()
		if o.Task != c.task || o.Dimension != c.dim || (c.loss != "" && o.Loss != c.loss) || !slices.Equal(o.ClassLabels, c.labels) {
			t.Errorf("%s: output %+v, want task %v loss %q dim %d labels %q", c.file, o, c.task, c.loss, c.dim, c.labels)
		}
		if o.ProbabilityThreshold != 0.5 {
			t.Errorf("%s: threshold %v", c.file, o.ProbabilityThreshold)
		}
		if c.names != nil {
			var names []string
			for _, f := range m.Schema().Features {
				names = append(names, f.Name)
			}
			if !slices.Equal(names, c.names) {
				t.Errorf("%s: feature names %q, want %q", c.file, names, c.names)
			}
		}
		info := m.Describe()
		if info.Symmetric != c.symmetric || (c.version != "" && info.ProducerVersion != c.version) || len(info.TreeDepths) == 0 {
			t.Errorf("%s: describe %+v", c.file, info)
		}
	}
}
