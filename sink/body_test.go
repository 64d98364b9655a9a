package sink_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/xgboost"
	"github.com/loan-scorer/loan-scorer/sink"
)

// xgbModel loads one of the real XGBoost models kept by model/xgboost.
func xgbModel(t testing.TB, file string) *model.Loaded {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "model", "xgboost", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	m, err := xgboost.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	return model.NewLoaded(m, model.Version(file, data), false)
}

func TestAppendResult(t *testing.T) {
	t.Parallel()
	tenth := 0.1 // a variable: constant arithmetic would be exact
	binary := xgbModel(t, "binary_logistic.json")
	regression := xgbModel(t, "regression_named.json")
	multi := xgbModel(t, "multi_softprob.json")
	for _, c := range []struct {
		name string
		m    *model.Loaded
		out  []float64
		want string // the field and value part
	}{
		{"binary", binary, []float64{0.0312}, `"default_proba":0.0312`},
		{"binary full precision", binary, []float64{tenth + 2*tenth}, `"default_proba":0.30000000000000004`},
		{"binary tiny", binary, []float64{1e-300}, `"default_proba":1e-300`},
		{"regression", regression, []float64{-12.5}, `"prediction":-12.5`},
		{"not finite", regression, []float64{math.Inf(1)}, `"prediction":null`},
		{"multiclass", multi, []float64{0.25, 0.5, 0.25}, `"probabilities":[0.25,0.5,0.25]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := string(sink.AppendResult([]byte("prefix:"), "id-1", c.m, c.out, nil))
			want := `prefix:{"id":"id-1",` + c.want + `,"model":"` + c.m.Version + `"}`
			if got != want {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
			if !json.Valid([]byte(got[len("prefix:"):])) {
				t.Fatalf("not JSON: %s", got)
			}
			pred := string(sink.AppendPrediction(nil, c.m, c.out, nil))
			if pred != "{"+c.want+"}" {
				t.Fatalf("AppendPrediction = %s, want {%s}", pred, c.want)
			}
		})
	}
}

func TestAppendError(t *testing.T) {
	t.Parallel()
	got := string(sink.AppendError(nil, "m-1", "invalid_input", "invalid fields: Term (missing)",
		map[string]string{"Term": "missing", "City": "invalid_category", "a<b>": "unknown_field"}))
	want := `{"id":"m-1","error":{"code":"invalid_input","message":"invalid fields: Term (missing)",` +
		`"fields":{"City":"invalid_category","Term":"missing","a\u003cb\u003e":"unknown_field"}}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := string(sink.AppendError(nil, "", "overloaded", "retry", nil)); got != `{"error":{"code":"overloaded","message":"retry"}}` {
		t.Fatalf("without id and fields: %s", got)
	}
}

// TestAppendStringMatchesEncodingJSON: for any string, hostile ones
// included, the JSON text reads back (with encoding/json) as the same value
// encoding/json's own encoding reads back as, and never contains raw <, >,
// &, control characters or invalid UTF-8.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []string{"", "plain", `quote " backslash \ slash /`, "<script>alert(1)</script>", "a&b",
		"\x00\x01\n\r\t\x1f\x7f", "\xff\xfe", "\xc0\xaf", "é日本😀", "\u2028\u2029", "\xed\xa0\x80"}
	for range 2000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		enc := sink.AppendString(nil, s)
		var got, want string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("%q encoded as %s: %v", s, enc, err)
		}
		ref, _ := json.Marshal(s)
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%q: reads back as %q, encoding/json gives %q", s, got, want)
		}
		for _, c := range enc {
			if c < 0x20 || c == '<' || c == '>' || c == '&' {
				t.Fatalf("%q encoded with a raw %q: %s", s, c, enc)
			}
		}
	}
}

func TestValueField(t *testing.T) {
	t.Parallel()
	for file, want := range map[string][2]any{
		"binary_logistic.json":  {"default_proba", false},
		"regression_named.json": {"prediction", false},
		"count_poisson.json":    {"prediction", false},
		"multi_softprob.json":   {"probabilities", true},
	} {
		name, array := sink.ValueField(xgbModel(t, file))
		if !reflect.DeepEqual([2]any{name, array}, want) {
			t.Errorf("%s: %s %v, want %v", file, name, array, want)
		}
	}
}

func BenchmarkAppendResult(b *testing.B) {
	m := xgbModel(b, "binary_logistic.json")
	buf := make([]byte, 0, 256)
	out := []float64{0.031234567890123}
	b.ReportAllocs()
	for b.Loop() {
		buf = sink.AppendResult(buf[:0], "LOANS:123456", m, out, nil)
	}
}
