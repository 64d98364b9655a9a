package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
)

// runModelCmd runs `scorer model ARGS` in-process with stdin and returns
// what it wrote to stdout.
func runModelCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newModelCmd()
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	return out.String(), err
}

func xgboostTestdata(t *testing.T, name string) string {
	return filepath.Join(testkit.RepoRoot(t), "model", "xgboost", "testdata", name)
}

// catboostFixture returns a file of the real CatBoost fixtures; missing
// fixtures fail in CI and skip elsewhere.
func catboostFixture(t *testing.T, parts ...string) string {
	t.Helper()
	dir := os.Getenv("CATBOOST_FIXTURES")
	if dir == "" {
		dir = filepath.Join(testkit.RepoRoot(t), "..", "shared", "fixtures", "catboost")
	}
	path := filepath.Join(append([]string{dir}, parts...)...)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CatBoost fixture missing: %v", err)
		}
		t.Skipf("CatBoost fixture missing: %v", err)
	}
	return path
}

// parseOutput decodes predict's output: one JSON array of numbers per line.
func parseOutput(t *testing.T, out string) [][]float64 {
	t.Helper()
	var rows [][]float64
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var row []float64
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		rows = append(rows, row)
	}
	return rows
}

func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Max(1, math.Abs(want))
}

// TestModelPredictXGBoost feeds the rows of model/xgboost/testdata (written
// by make_models.py with XGBoost 1.7.4) through `scorer model predict` as
// JSON arrays and compares with XGBoost's own predict() (1e-6: XGBoost
// applies its transformations in float32) and margins (exact: the float32
// sums match bit for bit and print round-trippably).
func TestModelPredictXGBoost(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(xgboostTestdata(t, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var expected map[string]json.RawMessage
	if err := json.Unmarshal(data, &expected); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ptype string // ptype "" = the command's default
		margin      bool
	}{
		{"binary_logistic", "", false},
		{"multi_softprob", "", false},
		{"count_poisson", "Exponent", false},
		{"categorical", "Probability", false},
		{"regression_named", "", true},
		{"multi_softprob", "RawFormulaVal", true},
	} {
		t.Run(tc.name+"/"+tc.ptype, func(t *testing.T) {
			var c struct {
				Model   string            `json:"model"`
				Rows    []json.RawMessage `json:"rows"`
				Margin  []float64         `json:"margin"`
				Predict []float64         `json:"predict"`
			}
			if err := json.Unmarshal(expected[tc.name], &c); err != nil {
				t.Fatal(err)
			}
			var in strings.Builder
			for _, r := range c.Rows {
				var line bytes.Buffer
				if err := json.Compact(&line, r); err != nil {
					t.Fatal(err)
				}
				in.Write(line.Bytes())
				in.WriteByte('\n')
			}
			args := []string{"predict", xgboostTestdata(t, c.Model)}
			if tc.ptype != "" {
				args = append(args, "--prediction-type", tc.ptype)
			}
			out, err := runModelCmd(t, in.String(), args...)
			if err != nil {
				t.Fatal(err)
			}
			rows := parseOutput(t, out)
			if len(rows) != len(c.Rows) {
				t.Fatalf("%d output lines for %d input lines", len(rows), len(c.Rows))
			}
			want, rel := c.Predict, 1e-6
			if tc.margin {
				want, rel = c.Margin, 0
			}
			var got []float64
			for _, r := range rows {
				got = append(got, r...)
			}
			if len(got) != len(want) {
				t.Fatalf("%d values, XGBoost gave %d", len(got), len(want))
			}
			for i := range got {
				if !near(got[i], want[i], rel) {
					t.Errorf("value %d: %v, XGBoost %v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestModelPredictObjects sends JSON objects keyed by feature name, with a
// numeric string and a null, and checks them against the same rows sent as
// arrays.
func TestModelPredictObjects(t *testing.T) {
	t.Parallel()
	path := xgboostTestdata(t, "regression_named.json")
	objects := `{"Term":3,"NoEmp":-1.25,"GrAppv":"0.5","latitude":null}
{"latitude":2,"GrAppv":-3,"NoEmp":0,"Term":-7,"extra":"ignored"}
`
	arrays := "[3,-1.25,0.5,null]\n[-7,0,-3,2]\n"
	a, err := runModelCmd(t, objects, "predict", path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := runModelCmd(t, arrays, "predict", path)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || strings.Count(a, "\n") != 2 {
		t.Errorf("objects gave\n%s\narrays gave\n%s", a, b)
	}
}

// TestModelPredictObjectAndArrayLinesShareTheRules: a value is refused in
// an array line exactly when it is refused in an object line (issue 12:
// " 1" was a number in an array and invalid_number in an object), and a
// byte-order mark before the first line is skipped.
func TestModelPredictObjectAndArrayLinesShareTheRules(t *testing.T) {
	t.Parallel()
	path := xgboostTestdata(t, "regression_named.json")
	for _, v := range []string{`" 1"`, `"1 "`, `""`, `"0x10"`, `"NaN"`, `"Infinity"`, `true`} {
		object := `{"Term":` + v + `,"NoEmp":2,"GrAppv":3,"latitude":4}` + "\n"
		array := `[` + v + `,2,3,4]` + "\n"
		for what, in := range map[string]string{"object": object, "array": array} {
			_, err := runModelCmd(t, in, "predict", path)
			var exit exitError
			if !errors.As(err, &exit) || exit.code != badInputExitCode || !strings.Contains(err.Error(), `feature "Term"`) {
				t.Errorf("%s line with Term %s: %v, want exit %d naming Term", what, v, err, badInputExitCode)
			}
		}
	}
	plain, err := runModelCmd(t, "[3,-1.25,0.5,null]\n", "predict", path)
	if err != nil {
		t.Fatal(err)
	}
	withBOM, err := runModelCmd(t, "\xEF\xBB\xBF[3,-1.25,0.5,null]\n", "predict", path)
	if err != nil || withBOM != plain {
		t.Errorf("a byte-order mark before the first line: %q, %v; want %q", withBOM, err, plain)
	}
}

// TestModelPredictCatBoost checks predict on real CatBoost fixtures against
// the predictions CatBoost made (manifest cases), with categorical features.
func TestModelPredictCatBoost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dir, file, ptype, key string
	}{
		{"rwg-churn-mixed", "model.cbm", "", "expected_probability"},
		{"gocb-ctr-binary", "model.json.gz", "RawFormulaVal", "expected_raw"},
		{"gocb-multiclass-3", "model.cbm", "", "expected_probability"},
		{"gocb-float-regression", "model.cbm", "Exponent", "expected_exponent"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			path := catboostFixture(t, tc.dir, tc.file)
			manifest, err := os.ReadFile(catboostFixture(t, tc.dir, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				Cases []map[string]json.RawMessage `json:"cases"`
			}
			if err := json.Unmarshal(manifest, &m); err != nil {
				t.Fatal(err)
			}
			f, err := modelfile.Open(path, modelfile.Options{})
			if err != nil {
				t.Fatal(err)
			}
			// Lines are arrays in flat order: float_features[i] goes to the
			// float feature with Index i, cat_features[j] to the categorical
			// one with Index j.
			var in strings.Builder
			var want [][]float64
			for _, c := range m.Cases {
				var floats []*float64
				var cats []string
				var exp []float64
				if json.Unmarshal(c["float_features"], &floats) != nil || json.Unmarshal(c["cat_features"], &cats) != nil ||
					json.Unmarshal(c[tc.key], &exp) != nil {
					t.Fatalf("case %v", c)
				}
				line := make([]any, len(f.Model.Schema().Features))
				for _, ft := range f.Model.Schema().Features {
					if ft.Kind == model.Categorical {
						line[ft.FlatIndex] = cats[ft.Index]
					} else if v := floats[ft.Index]; v != nil {
						line[ft.FlatIndex] = *v
					}
				}
				enc, _ := json.Marshal(line)
				in.Write(enc)
				in.WriteByte('\n')
				want = append(want, exp)
			}
			args := []string{"predict", path}
			if tc.ptype != "" {
				args = append(args, "--prediction-type", tc.ptype)
			}
			out, err := runModelCmd(t, in.String(), args...)
			if err != nil {
				t.Fatal(err)
			}
			got := parseOutput(t, out)
			if len(got) != len(want) {
				t.Fatalf("%d lines, want %d", len(got), len(want))
			}
			for i := range want {
				if len(got[i]) != len(want[i]) {
					t.Fatalf("case %d: %v, CatBoost %v", i, got[i], want[i])
				}
				for k := range want[i] {
					if !near(got[i][k], want[i][k], 1e-9) {
						t.Errorf("case %d dim %d: %v, CatBoost %v", i, k, got[i][k], want[i][k])
					}
				}
			}
		})
	}
}

func TestModelPredictClassLabels(t *testing.T) {
	t.Parallel()
	out, err := runModelCmd(t, "[0,0,0,0,0]\n[5,5,5,5,5]\n", "predict", xgboostTestdata(t, "multi_softprob.json"), "--prediction-type", "Class")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var label []string
		if err := json.Unmarshal([]byte(line), &label); err != nil || len(label) != 1 || !strings.Contains("012", label[0]) {
			t.Errorf("Class line %q: want [\"<label>\"]", line)
		}
	}
}

func TestModelPredictBadLine(t *testing.T) {
	t.Parallel()
	path := xgboostTestdata(t, "regression_named.json")
	for _, tc := range []struct {
		name, in, want string
	}{
		{"string for a number", `{"Term":1,"NoEmp":2,"GrAppv":3,"latitude":4}` + "\n" + `{"Term":"abc","NoEmp":2,"GrAppv":3,"latitude":4}` + "\n", `line 2: feature "Term": want a number`},
		{"missing feature", `{"Term":1,"NoEmp":2,"GrAppv":3}` + "\n", `line 1: feature "latitude": missing`},
		{"array too short", "[1,2,3,4]\n[1,2]\n", "line 2: array of 2 values"},
		{"array boolean", "[1,true,3,4]\n", `line 1: feature "NoEmp" (position 1): want a number, got a boolean`},
		{"not json", "[1,2,3,4]\n[1,2,3,4]\nhello\n", "line 3:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runModelCmd(t, tc.in, "predict", path)
			var exit exitError
			if !errors.As(err, &exit) || exit.code != badInputExitCode {
				t.Fatalf("error %v, want exit code %d", err, badInputExitCode)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			// Lines before the bad one were scored and written.
			if good := strings.Count(tc.in, "\n") - 1; strings.Count(out, "\n") != good {
				t.Errorf("%d output lines before the error, want %d:\n%s", strings.Count(out, "\n"), good, out)
			}
		})
	}
}

func TestModelPredictRefusesPredictionType(t *testing.T) {
	t.Parallel()
	_, err := runModelCmd(t, "[1,2,3,4]\n", "predict", xgboostTestdata(t, "regression_named.json"), "--prediction-type", "Probability")
	var exit exitError
	if err == nil || errors.As(err, &exit) || !strings.Contains(err.Error(), "Probability") {
		t.Errorf("Probability from a regressor: %v", err)
	}
	if _, err := runModelCmd(t, "", "predict", xgboostTestdata(t, "regression_named.json"), "--prediction-type", "Margin"); err == nil {
		t.Error("unknown prediction type accepted")
	}
}

func TestModelInspect(t *testing.T) {
	t.Parallel()
	path := xgboostTestdata(t, "regression_named.json")
	out, err := runModelCmd(t, "", "inspect", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"format:            xgboost-json", "producer version:  1.7.4", "loss:              reg:squarederror",
		"trees:             30", "tree depths:       5×30", `"GrAppv"`, "regression_named@"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}

	out, err = runModelCmd(t, "", "inspect", "--json", catboostFixture(t, "rwg-churn-mixed", "model.cbm"))
	if err != nil {
		t.Fatal(err)
	}
	var r inspectReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Format != "catboost-cbm" || r.ProducerVersion != "1.2.10" || r.Task != "binary" || r.Trees != 80 || !r.Symmetric ||
		strings.Join(r.ClassLabels, ",") != "0,1" || len(r.CtrTypes) == 0 || len(r.Features) != 4 || r.Features[2].Kind != "categorical" {
		t.Errorf("inspect --json: %+v", r)
	}

	// XGBoost categorical features take codes; inspect says which.
	out, err = runModelCmd(t, "", "inspect", xgboostTestdata(t, "categorical.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"branch"  float (category code)`) || strings.Contains(out, `"amount"  float (category code)`) {
		t.Errorf("categorical features not marked:\n%s", out)
	}

	// --features renames a model's unnamed features.
	out, err = runModelCmd(t, "", "inspect", "--json", "--features", "a,b,c,d,e,f", xgboostTestdata(t, "binary_logistic.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Features[5].Name != "f" || r.Trees != 20 {
		t.Errorf("renamed: %v %+v", err, r.Features)
	}
}

func TestModelRefusesXGBoostUBJSON(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"binary_1_7.ubj", "binary_1_7.model"} {
		_, err := runModelCmd(t, "", "inspect", xgboostTestdata(t, name))
		if err == nil || !strings.Contains(err.Error(), "save it as JSON") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestModelBench(t *testing.T) {
	t.Parallel()
	for _, path := range []string{xgboostTestdata(t, "multi_softprob.json"), catboostFixture(t, "rwg-churn-mixed", "model.cbm")} {
		out, err := runModelCmd(t, "", "bench", path, "--rows", "300", "--batch", "64")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"320 rows in 5 Predict calls of 64 rows", "ns/row:", "ns/tree·row:", "allocs:", "split thresholds"} {
			if !strings.Contains(out, want) {
				t.Errorf("bench output lacks %q:\n%s", want, out)
			}
		}
	}
}

// TestModelPredictLightGBM scores leaves' multi-class test rows (from the
// module cache) through the command and compares with LightGBM's own
// probabilities.
func TestModelPredictLightGBM(t *testing.T) {
	t.Parallel()
	dirOut, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/dmitryikh/leaves").Output()
	if err != nil || strings.TrimSpace(string(dirOut)) == "" {
		t.Fatalf("locating github.com/dmitryikh/leaves: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(dirOut)), "testdata")
	rows, err := os.ReadFile(filepath.Join(dir, "multiclass_test.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	truth, err := os.ReadFile(filepath.Join(dir, "lgmulticlass_true_predictions.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// Each tsv row is the label, then the features: an array line without
	// the label.
	var in strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(rows)), "\n") {
		fields := strings.Split(strings.TrimSpace(line), "\t")
		in.WriteString("[" + strings.Join(fields[1:], ",") + "]\n")
	}
	out, err := runModelCmd(t, in.String(), "predict", filepath.Join(dir, "lgmulticlass.model"))
	if err != nil {
		t.Fatal(err)
	}
	got := parseOutput(t, out)
	want := strings.Split(strings.TrimSpace(string(truth)), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d lines, LightGBM %d", len(got), len(want))
	}
	for i, line := range want {
		fields := strings.Fields(line)
		if len(fields) != len(got[i]) {
			t.Fatalf("row %d: %v, LightGBM %q", i, got[i], line)
		}
		for k, f := range fields {
			w, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got[i][k], w, 1e-9) {
				t.Errorf("row %d class %d: %v, LightGBM %v", i, k, got[i][k], w)
			}
		}
	}
}
