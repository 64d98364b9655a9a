package leaves

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dmitryikh/leaves/mat"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
)

// leavesTestdata returns the testdata directory of the leaves module in the
// module cache: its models and the predictions LightGBM and XGBoost made
// for them are the golden data here (not copied into this repository).
var leavesTestdata = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/dmitryikh/leaves").Output()
	if err != nil {
		return "", err
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", errors.New("go list gives no directory for github.com/dmitryikh/leaves: run go mod download")
	}
	return filepath.Join(dir, "testdata"), nil
})

func testdataPath(t testing.TB, name string) string {
	t.Helper()
	dir, err := leavesTestdata()
	if err != nil {
		t.Fatalf("locating leaves' testdata: %v", err)
	}
	return filepath.Join(dir, name)
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(testdataPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// readMatrix reads a delimited matrix with leaves' own reader.
func readMatrix(t testing.TB, name, delim string, skipFirst bool) *mat.DenseMat {
	t.Helper()
	m, err := mat.DenseMatFromCsvFile(testdataPath(t, name), 0, skipFirst, delim, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readLibsvm reads a libsvm file into a dense matrix of width cols with NaN
// for absent entries: XGBoost treats them as missing.
func readLibsvm(t testing.TB, name string, cols int) ([]float64, int) {
	t.Helper()
	f, err := os.Open(testdataPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vals []float64
	rows := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		row := make([]float64, cols)
		for i := range row {
			row[i] = math.NaN()
		}
		for _, kv := range fields[1:] {
			k, v, _ := strings.Cut(kv, ":")
			i, err1 := strconv.Atoi(k)
			x, err2 := strconv.ParseFloat(v, 64)
			if err1 != nil || err2 != nil || i >= cols {
				t.Fatalf("%s: bad entry %q", name, kv)
			}
			row[i] = x
		}
		vals = append(vals, row...)
		rows++
	}
	return vals, rows
}

// batchFrom wraps row-major values as a batch for m.
func batchFrom(t testing.TB, m *Model, vals []float64, rows int) *model.Batch {
	t.Helper()
	b := &model.Batch{Rows: rows, NumFloat: m.Schema().NumFloat, Floats: vals}
	if err := b.Check(m.Schema()); err != nil {
		t.Fatal(err)
	}
	return b
}

func predict(t testing.TB, m *Model, b *model.Batch, p model.PredictionType) []float64 {
	t.Helper()
	out := make([]float64, b.Rows*m.Output().Width(p))
	if err := m.Predict(b, p, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// compare checks got against the reference library's values. The reference
// files hold LightGBM's float64 and XGBoost's float32 results printed with
// 17–19 digits; leaves sums float64, XGBoost float32, so the bound is 1e-6
// relative for XGBoost and 1e-9 for LightGBM.
func compare(t *testing.T, got, want []float64, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, reference has %d", len(got), len(want))
	}
	bad := 0
	for i := range got {
		if d := math.Abs(got[i] - want[i]); !(d <= rel*math.Max(1, math.Abs(want[i]))) {
			if bad < 5 {
				t.Errorf("value %d: %v, reference %v", i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d values differ", bad, len(got))
	}
}

func TestLightGBMMatchesReference(t *testing.T) {
	tests := []struct {
		name, model, input, truth string
		delim                     string
		skipFirst                 bool
		p                         model.PredictionType
		task                      model.Task
		dim                       int
		version                   string
	}{
		{"multiclass raw", "lgmulticlass.model", "multiclass_test.tsv", "lgmulticlass_true_raw_predictions.txt", "\t", true, model.RawFormulaVal, model.MultiClassification, 5, "v2"},
		{"multiclass softmax", "lgmulticlass.model", "multiclass_test.tsv", "lgmulticlass_true_predictions.txt", "\t", true, model.Probability, model.MultiClassification, 5, "v2"},
		{"dart binary", "lg_dart_breast_cancer.model", "breast_cancer_test.tsv", "lg_dart_breast_cancer_true_predictions.txt", "\t", false, model.Probability, model.BinaryClassification, 1, "v2"},
		{"categorical multiclass", "lg_kddcup99.model", "kddcup99_test.tsv", "lg_kddcup99_true_predictions.txt", "\t", false, model.RawFormulaVal, model.MultiClassification, 13, "v2"},
		{"poisson", "genlin_fmtp_poisson_Frequency.model", "genlin_fmtp_poisson_Frequency_features.tsv", "genlin_fmtp_poisson_Frequency_true_predictions.txt", "\t", false, model.Exponent, model.Regression, 1, "v3"},
		{"gamma", "genlin_fmtp_gamma_AvgClaimAmount.model", "genlin_fmtp_gamma_AvgClaimAmount_features.tsv", "genlin_fmtp_gamma_AvgClaimAmount_true_predictions.txt", "\t", false, model.Exponent, model.Regression, 1, "v3"},
		{"tweedie", "genlin_fmtp_tweedie_PurePremium.model", "genlin_fmtp_tweedie_PurePremium_features.tsv", "genlin_fmtp_tweedie_PurePremium_true_predictions.txt", "\t", false, model.Exponent, model.Regression, 1, "v3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := LoadLightGBM(readFile(t, tt.model))
			if err != nil {
				t.Fatal(err)
			}
			o := m.Output()
			if o.Task != tt.task || o.Dimension != tt.dim || m.Format() != "LightGBM text "+tt.version {
				t.Fatalf("output %+v, format %q", o, m.Format())
			}
			in := readMatrix(t, tt.input, tt.delim, tt.skipFirst)
			truth := readMatrix(t, tt.truth, "\t", false)
			got := predict(t, m, batchFrom(t, m, in.Values, in.Rows), tt.p)
			compare(t, got, truth.Values, 1e-9)
		})
	}
}

// TestLightGBMRandomForest: LightGBM averages the trees of a random forest
// (average_output) and then applies the objective, so its predict() gives
// the sigmoid of the average.
func TestLightGBMRandomForest(t *testing.T) {
	m, err := LoadLightGBM(readFile(t, "lg_rf_iris.model"))
	if err != nil {
		t.Fatal(err)
	}
	vals, rows := readLibsvm(t, "iris_test.libsvm", m.Schema().NumFloat)
	truth := readMatrix(t, "lg_rf_iris_true_predictions.txt", "\t", false)
	compare(t, predict(t, m, batchFrom(t, m, vals, rows), model.Probability), truth.Values, 1e-9)
}

func TestLightGBMSchema(t *testing.T) {
	m, err := LoadLightGBM(readFile(t, "genlin_fmtp_poisson_Frequency.model"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, f := range m.Schema().Features {
		names = append(names, f.Name)
		if f.Kind != model.Float || f.Index != i || f.FlatIndex != i {
			t.Errorf("feature %+v", f)
		}
	}
	if got := strings.Join(names, " "); got != "VehBrand VehPower VehGas Region Area VehAge DrivAge BonusMalus Density" {
		t.Errorf("names %q", got)
	}
	o := m.Output()
	if o.Loss != "poisson" || len(o.ClassLabels) != 0 {
		t.Errorf("output %+v", o)
	}
	info := m.Describe()
	if len(info.TreeDepths) == 0 || info.Symmetric || info.ProducerVersion != "" {
		t.Errorf("info %+v", info)
	}
	for _, d := range info.TreeDepths {
		if d < 1 {
			t.Errorf("depth %d", d)
		}
	}
	b := model.NewBatch(m.Schema(), 1)
	b.AppendRow()
	if err := m.Predict(b, model.Probability, make([]float64, 1)); !errors.Is(err, ErrPredictionType) {
		t.Errorf("Probability from a regressor: %v", err)
	}
}

func TestXGBoostBinaryMatchesReference(t *testing.T) {
	tests := []struct {
		name, model, input, truth string
		p                         model.PredictionType
		dim                       int
	}{
		// agaricus: predictions saved by XGBoost's predict() (probabilities).
		{"agaricus", "xgagaricus.model", "agaricus_test.libsvm", "xgagaricus_true_predictions.txt", model.Probability, 1},
		// dermatology: 6-class multi:softprob, margins.
		{"dermatology", "xgdermatology.model", "dermatology_test.libsvm", "xgdermatology_true_predictions.txt", model.RawFormulaVal, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := readFile(t, tt.model)
			if !IsXGBoostBinary(data) || IsLightGBM(data) {
				t.Fatal("not detected as an XGBoost binary model")
			}
			m, err := LoadXGBoostBinary(data)
			if err != nil {
				t.Fatal(err)
			}
			if m.Output().Dimension != tt.dim {
				t.Fatalf("output %+v", m.Output())
			}
			vals, rows := readLibsvm(t, tt.input, m.Schema().NumFloat)
			truth := readMatrix(t, tt.truth, "\t", false)
			compare(t, predict(t, m, batchFrom(t, m, vals, rows), tt.p), truth.Values, 1e-6)
		})
	}
}

func TestXGBoostBinaryNewRefused(t *testing.T) {
	for _, name := range []string{"binary_1_7.model"} {
		data, err := os.ReadFile(filepath.Join("..", "xgboost", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !IsXGBoostBinary(data) {
			t.Errorf("%s: not recognised as XGBoost binary", name)
		}
		if _, err := LoadXGBoostBinary(data); !errors.Is(err, ErrXGBoostBinaryTooNew) {
			t.Errorf("%s: %v, want ErrXGBoostBinaryTooNew", name, err)
		}
		// Without the "binf" marker, the version field in the header still
		// tells a 1.x file.
		if _, err := LoadXGBoostBinary(data[4:]); !errors.Is(err, ErrXGBoostBinaryTooNew) {
			t.Errorf("%s without binf: %v", name, err)
		}
	}
}

func TestLightGBMRefused(t *testing.T) {
	good := string(readFile(t, "lg_dart_breast_cancer.model"))
	tests := []struct {
		name, from, to string
		want           error
	}{
		{"unknown version", "version=v2", "version=v9", ErrUnsupported},
		{"no version", "version=v2", "versio=v2", ErrUnsupported},
		{"linear tree", "num_cat=0\n", "num_cat=0\nis_linear=1\n", ErrUnsupported},
		{"feature out of range", "split_feature=22 27 22", "split_feature=30 27 22", ErrFormat},
		{"cycle", "left_child=1 2 3 5 -2 6 8 -6 -1", "left_child=1 2 3 5 -2 6 0 -6 -1", ErrFormat},
		{"leaf count", "leaf_value=0.6865336845640464 ", "leaf_value=", ErrFormat},
		{"unknown objective", "objective=binary sigmoid:1", "objective=custom_thing", ErrUnsupported},
		{"bad tree_sizes", "tree_sizes=836 ", "tree_sizes=", ErrFormat},
		{"not lightgbm", "tree\n", "forest\n", ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(good, tt.from, tt.to, 1)
			if bad == good {
				t.Fatalf("mutation %q not applied", tt.from)
			}
			if _, err := LoadLightGBM([]byte(bad)); !errors.Is(err, tt.want) {
				t.Errorf("LoadLightGBM: %v, want %v", err, tt.want)
			}
		})
	}
	if !IsLightGBM([]byte(good)) {
		t.Error("IsLightGBM false for a LightGBM model")
	}
}

// TestLightGBMv4 loads v2 and v3 models relabelled v4: the adapter hands
// them to leaves as v3, so predictions must not change. (That the v4 tree
// format is v3's was checked by hand against LightGBM 4.x predictions; no
// LightGBM 4 is available here to make a golden file.)
func TestLightGBMv4(t *testing.T) {
	for _, name := range []string{"lg_dart_breast_cancer.model", "genlin_fmtp_tweedie_PurePremium.model"} {
		data := readFile(t, name)
		v4 := regexp.MustCompile(`(?m)^version=v[23]$`).ReplaceAll(data, []byte("version=v4"))
		if bytes.Equal(v4, data) {
			t.Fatal("no version line replaced")
		}
		orig, err := LoadLightGBM(data)
		if err != nil {
			t.Fatal(err)
		}
		m, err := LoadLightGBM(v4)
		if err != nil {
			t.Fatal(err)
		}
		if m.Format() != "LightGBM text v4" {
			t.Errorf("format %q", m.Format())
		}
		b := model.NewBatch(m.Schema(), 2)
		for r := range 2 {
			floats, _ := b.AppendRow()
			for i := range floats {
				floats[i] = float64(r*i%7) - 1.5
			}
		}
		got, want := predict(t, m, b, model.RawFormulaVal), predict(t, orig, b, model.RawFormulaVal)
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s row %d: v4 %v, original %v", name, i, got[i], want[i])
			}
		}
	}
}

func TestXGBoostBinaryTruncated(t *testing.T) {
	data := readFile(t, "xgagaricus.model")
	for _, n := range []int{200, len(data) / 2, len(data) - 1} {
		if _, err := LoadXGBoostBinary(data[:n]); !errors.Is(err, ErrFormat) {
			t.Errorf("truncated to %d bytes: %v", n, err)
		}
	}
}

func TestPredictAllocatesNothing(t *testing.T) {
	m, err := LoadLightGBM(readFile(t, "lgmulticlass.model"))
	if err != nil {
		t.Fatal(err)
	}
	in := readMatrix(t, "multiclass_test.tsv", "\t", true)
	b := batchFrom(t, m, in.Values[:64*in.Cols], 64)
	if testkit.RaceEnabled {
		t.Skip("the scratch pool drops buffers at random under -race; scripts/test.sh runs this without it")
	}
	for _, p := range []model.PredictionType{model.Probability, model.Class} {
		out := make([]float64, b.Rows*m.Output().Width(p))
		m.Predict(b, p, out) // fill the scratch pool
		allocs := testing.AllocsPerRun(10, func() {
			if err := m.Predict(b, p, out); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call", p, allocs)
		}
	}
}

func FuzzLoadLightGBM(f *testing.F) {
	// Small seeds: the fuzzer minimizes every new input, which takes most
	// of a short run for large models.
	f.Add([]byte("tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nmax_feature_idx=1\nobjective=binary sigmoid:1\n" +
		"feature_names=a b\ntree_sizes=1 1\n\nTree=0\nnum_leaves=3\nnum_cat=1\nsplit_feature=1 0\nthreshold=0 756.0\n" +
		"decision_type=9 2\nleft_child=-1 -2\nright_child=1 -3\nleaf_value=0.54 0.35 0.38\ncat_boundaries=0 4\ncat_threshold=0 0 0 16\n\n" +
		"Tree=1\nnum_leaves=1\nnum_cat=0\nleaf_value=0.5\n\nend of trees\n"))
	f.Add(readFile(f, "model_simple.txt"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := LoadLightGBM(data)
		if err != nil {
			return
		}
		scoreAnything(t, m)
	})
}

func FuzzLoadXGBoostBinary(f *testing.F) {
	f.Add(readFile(f, "xgagaricus.model"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := LoadXGBoostBinary(data)
		if err != nil {
			return
		}
		scoreAnything(t, m)
	})
}

// scoreAnything checks that a model that loaded scores odd rows without
// panicking or hanging.
func scoreAnything(t *testing.T, m *Model) {
	if m.Schema().NumFloat > 1<<12 {
		return
	}
	b := model.NewBatch(m.Schema(), 3)
	for _, v := range []float64{math.NaN(), -1e30, 3} {
		floats, _ := b.AppendRow()
		for i := range floats {
			floats[i] = v
		}
	}
	for _, p := range []model.PredictionType{model.RawFormulaVal, model.Class} {
		out := make([]float64, b.Rows*m.Output().Width(p))
		if err := m.Predict(b, p, out); err != nil && !errors.Is(err, ErrPredictionType) {
			t.Fatal(err)
		}
	}
	// Explanations: refused with the reason, or computed without a panic,
	// adding up to the raw score.
	dims, err := m.Explained()
	if err != nil {
		if !errors.Is(err, model.ErrNoExplanation) {
			t.Fatalf("Explained: %v does not wrap ErrNoExplanation", err)
		}
		return
	}
	per := m.Schema().NumFloat + 1
	vals := make([]float64, b.Rows*dims*per)
	if err := m.Explain(b, vals); err != nil {
		t.Fatalf("Explain: %v", err)
	}
	raw := make([]float64, b.Rows*m.Output().Dimension)
	if err := m.Predict(b, model.RawFormulaVal, raw); err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		sum, scale := 0.0, 0.0
		for _, v := range vals[i*per : (i+1)*per] {
			sum += v
			scale = max(scale, math.Abs(v))
		}
		if finite := !math.IsNaN(sum) && !math.IsInf(sum, 0) && scale < 1e100 && !math.IsInf(raw[i], 0); finite &&
			math.Abs(sum-raw[i]) > 1e-6*max(1, math.Abs(raw[i]), scale) {
			t.Fatalf("row %d: values add up to %v, raw score %v", i, sum, raw[i])
		}
	}
}

// TestXGBoostBinaryTies compares with XGBoost 1.7.4 itself (which reads the
// old format) on rows that sit on, just below and just above split
// thresholds: testdata/make_expected.py wrote them. XGBoost sends
// float32(x) < threshold left where leaves tests x <= threshold, so this
// fails unless the adapter corrects for it. Margins are compared at 1e-6:
// leaves sums in float64, XGBoost in float32.
func TestXGBoostBinaryTies(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var expected map[string]json.RawMessage
	if err := json.Unmarshal(data, &expected); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"xgagaricus.model", "xgdermatology.model"} {
		t.Run(name, func(t *testing.T) {
			var c struct {
				Rows   [][]*float64 `json:"rows"`
				Margin []float64    `json:"margin"`
			}
			if err := json.Unmarshal(expected[name], &c); err != nil {
				t.Fatal(err)
			}
			m, err := LoadXGBoostBinary(readFile(t, name))
			if err != nil {
				t.Fatal(err)
			}
			b := model.NewBatch(m.Schema(), len(c.Rows))
			for _, row := range c.Rows {
				floats, _ := b.AppendRow()
				for i, v := range row {
					if v != nil && i < len(floats) {
						floats[i] = *v
					}
				}
			}
			compare(t, predict(t, m, b, model.RawFormulaVal), c.Margin, 1e-6)
		})
	}
}

// TestConcurrentPredict runs Predict from several goroutines on one model
// (scratch buffers come from a pool) and checks every result against a
// sequential one; run it with -race.
func TestConcurrentPredict(t *testing.T) {
	m, err := LoadXGBoostBinary(readFile(t, "xgdermatology.model"))
	if err != nil {
		t.Fatal(err)
	}
	vals, rows := readLibsvm(t, "dermatology_test.libsvm", m.Schema().NumFloat)
	b := batchFrom(t, m, vals, rows)
	want := predict(t, m, b, model.Class)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				got := make([]float64, len(want))
				if err := m.Predict(b, model.Class, got); err != nil {
					errs <- err
					return
				}
				for i := range got {
					if got[i] != want[i] {
						errs <- fmt.Errorf("row %d: %v, sequential %v", i, got[i], want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
