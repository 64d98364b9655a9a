package sink_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
	"github.com/loan-scorer/loan-scorer/sink"
)

// TestAppendNote: each shape of a note, written after a result's fields,
// compared with the exact body docs/EXPLANATIONS.md describes.
func TestAppendNote(t *testing.T) {
	t.Parallel()
	m := xgbModel(t, "binary_logistic.json")
	code := &reason.Code{Code: "L01", Text: `Amount of the "loan"`}
	term := reason.Value{Name: "Term", Kind: model.Float, Number: 84, Contribution: 0.5}
	city := reason.Value{Name: "City", Kind: model.Categorical, Category: "Other", Contribution: 0.25}
	missing := reason.Value{Name: "GrAppv", Kind: model.Float, Number: math.NaN(), Contribution: 0.75}
	sba := reason.Value{Name: "SBA_Appv", Kind: model.Float, Number: 1275000, Contribution: -0.5}
	for _, c := range []struct {
		name string
		note *reason.Note
		want string // after the model field
	}{
		{"nil", nil, ``},
		{"nothing asked, nothing unseen", &reason.Note{}, ``},
		{"asked, none toward the outcome", &reason.Note{Asked: 2}, `,"reasons":[]`},
		{"features", &reason.Note{Asked: 2, Reasons: []reason.Reason{
			{Contribution: 0.5, Features: []reason.Value{term}},
			{Contribution: 0.25, Features: []reason.Value{city}}}},
			`,"reasons":[{"feature":"Term","value":84,"contribution":0.5},{"feature":"City","value":"Other","contribution":0.25}]`},
		{"a code", &reason.Note{Asked: 1, Reasons: []reason.Reason{
			{Code: code, Contribution: 0.25, Features: []reason.Value{missing, sba}}}},
			`,"reasons":[{"code":"L01","text":"Amount of the \"loan\"","contribution":0.25,"features":[` +
				`{"feature":"GrAppv","value":null,"contribution":0.75},{"feature":"SBA_Appv","value":1275000,"contribution":-0.5}]}]`},
		{"a code of one feature keeps its code", &reason.Note{Asked: 1, Reasons: []reason.Reason{
			{Code: code, Contribution: 0.5, Features: []reason.Value{term}}}},
			`,"reasons":[{"code":"L01","text":"Amount of the \"loan\"","contribution":0.5,"features":[{"feature":"Term","value":84,"contribution":0.5}]}]`},
		{"unavailable", &reason.Note{Asked: 3, Err: errors.New("no leaf weights")},
			`,"reasons_error":{"code":"explanation_unavailable","message":"no leaf weights"}`},
		{"unseen only", &reason.Note{Unseen: []string{"City", "State"}}, `,"unseen":["City","State"]`},
		{"reasons and unseen", &reason.Note{Asked: 1, Reasons: []reason.Reason{{Contribution: 0.25, Features: []reason.Value{city}}}, Unseen: []string{"City"}},
			`,"reasons":[{"feature":"City","value":"Other","contribution":0.25}],"unseen":["City"]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := string(sink.AppendResult(nil, "id-1", m, []float64{0.25}, c.note))
			want := `{"id":"id-1","default_proba":0.25,"model":"` + m.Version + `"` + c.want + `}`
			if got != want {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("not JSON: %s", got)
			}
			if pred := string(sink.AppendPrediction(nil, m, []float64{0.25}, c.note)); pred != `{"default_proba":0.25`+c.want+`}` {
				t.Fatalf("AppendPrediction = %s", pred)
			}
		})
	}
}

// TestAppendNumber: input values are written as encoding/json writes a
// float64 (the reference), so a value reads back as what was sent.
func TestAppendNumber(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 84, 1500000, 1275000.5, -77.9221, 35.3664, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 123456789e15, math.MaxFloat64, math.SmallestNonzeroFloat64}
	for range 2000 {
		vals = append(vals, math.Float64frombits(rng.Uint64()), rng.NormFloat64()*math.Pow(10, float64(rng.IntN(60)-30)))
	}
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if got := string(sink.AppendNumber(nil, v)); got != "null" {
				t.Fatalf("%v: %s, want null", v, got)
			}
			continue
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := sink.AppendNumber(nil, v); string(got) != string(want) {
			t.Fatalf("%v: %s, encoding/json writes %s", v, got, want)
		}
	}
}
