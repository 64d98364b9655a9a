package main

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
)

// fixtureLines returns a CatBoost fixture's cases as JSON array lines in
// flat order, and each case's field key decoded.
func fixtureLines(t *testing.T, dir, file, key string) (string, [][]float64) {
	t.Helper()
	manifest, err := os.ReadFile(catboostFixture(t, dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Cases []map[string]json.RawMessage `json:"cases"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatal(err)
	}
	f, err := modelfile.Open(catboostFixture(t, dir, file), modelfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	var want [][]float64
	for _, c := range m.Cases {
		var floats []*float64
		var cats []string
		var exp []float64
		if json.Unmarshal(c["float_features"], &floats) != nil || json.Unmarshal(c["cat_features"], &cats) != nil {
			t.Fatalf("case %v", c)
		}
		if key != "" && json.Unmarshal(c[key], &exp) != nil {
			t.Fatalf("case %v has no %s", c, key)
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
	return in.String(), want
}

// TestModelExplainCatBoost: `scorer model explain` writes what CatBoost's
// own ShapValues are for the fixture rows.
func TestModelExplainCatBoost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ dir, file string }{
		{"cbrs-shap-oblivious", "model.cbm"},
		{"cbrs-shap-nonsym", "model.json"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			in, want := fixtureLines(t, tc.dir, tc.file, "expected_shap")
			out, err := runModelCmd(t, in, "explain", catboostFixture(t, tc.dir, tc.file), "--batch", "7")
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
				for j := range want[i] {
					if math.Abs(got[i][j]-want[i][j]) > 1e-9 {
						t.Errorf("case %d value %d: %v, CatBoost %v", i, j, got[i][j], want[i][j])
					}
				}
			}
		})
	}
}

// TestModelExplainMulticlass: one array per class, each adding up to that
// class's raw prediction (which the parity suite holds equal to CatBoost's).
func TestModelExplainMulticlass(t *testing.T) {
	t.Parallel()
	path := catboostFixture(t, "gocb-multiclass-3", "model.cbm")
	in, _ := fixtureLines(t, "gocb-multiclass-3", "model.cbm", "")
	out, err := runModelCmd(t, in, "predict", path, "--prediction-type", "RawFormulaVal")
	if err != nil {
		t.Fatal(err)
	}
	raw := parseOutput(t, out)
	if len(raw) == 0 || len(raw[0]) != 3 {
		t.Fatalf("raw predictions %v", raw)
	}
	out, err = runModelCmd(t, in, "explain", path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(raw) {
		t.Fatalf("%d lines for %d rows", len(lines), len(raw))
	}
	for i, line := range lines {
		var classes [][]float64
		if err := json.Unmarshal([]byte(line), &classes); err != nil || len(classes) != 3 {
			t.Fatalf("line %d %q: %v, want 3 arrays", i, line, err)
		}
		for k, vals := range classes {
			sum := 0.0
			for _, v := range vals {
				sum += v
			}
			if !near(sum, raw[i][k], 1e-9) {
				t.Errorf("row %d class %d: values add up to %v, CatBoost's raw prediction %v", i, k, sum, raw[i][k])
			}
		}
	}
}

// TestModelDemoByDefault: without a PATH every subcommand uses the built-in
// demo model; its explanation of the README's application adds up to the
// log-odds of its probability.
func TestModelDemoByDefault(t *testing.T) {
	t.Parallel()
	app := `{"Term":84,"NoEmp":5,"CreateJob":0,"RetainedJob":5,"longitude":-77.9221,"latitude":35.3664,"GrAppv":1500000.0,"SBA_Appv":1275000.0,"is_new":true,"FranchiseCode":"0","UrbanRural":1,"City":"Other","State":"NC","Bank":"BBCN BANK","BankState":"CA","RevLineCr":"N","naics_first_two":"45","same_state":false}` + "\n"
	out, err := runModelCmd(t, "", "inspect")
	if err != nil || !strings.Contains(out, "(built-in demo model)") || !strings.Contains(out, "loan-demo@") {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	out, err = runModelCmd(t, app, "predict")
	if err != nil {
		t.Fatal(err)
	}
	p := parseOutput(t, out)[0][0]
	out, err = runModelCmd(t, app, "explain")
	if err != nil {
		t.Fatal(err)
	}
	vals := parseOutput(t, out)[0]
	if len(vals) != 19 {
		t.Fatalf("%d values, want 18 features and the expected value", len(vals))
	}
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	if logit := math.Log(p / (1 - p)); !near(sum, logit, 1e-9) {
		t.Errorf("values add up to %v, log-odds of the predicted %v is %v", sum, p, logit)
	}
	out, err = runModelCmd(t, "", "bench", "--explain", "--rows", "256", "--batch", "64")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"loan-demo@", "256 rows in 4 Explain calls, alternating with Predict in 4 rounds", "explained, ", "× the plain row", "per Explain call"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench --explain output lacks %q:\n%s", want, out)
		}
	}
}

// TestModelExplainRefuses: a model that cannot be explained is refused
// with the reason before any input is read.
func TestModelExplainRefuses(t *testing.T) {
	t.Parallel()
	// kiwi-regression carries values in zero-weight leaves: CatBoost itself
	// needs the training data to explain it.
	_, err := runModelCmd(t, "[0,0,0,0,0,0,0,0]\n", "explain", catboostFixture(t, "kiwi-regression", "model.json"))
	if err == nil || !strings.Contains(err.Error(), "cannot explain") || !strings.Contains(err.Error(), "weight 0") {
		t.Errorf("kiwi-regression: %v", err)
	}
}
