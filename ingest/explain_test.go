package ingest_test

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/worker"
)

// explainSchema has 18 features, as the demo model: K may be 0..18.
func explainSchema() *model.Schema {
	fs := make([]model.Feature, 18)
	for i := range fs {
		fs[i] = model.Feature{Name: "f" + strconv.Itoa(i), Kind: model.Float, Index: i, FlatIndex: i}
	}
	return &model.Schema{Features: fs, NumFloat: len(fs)}
}

func TestParseExplain(t *testing.T) {
	s := explainSchema()
	for _, c := range []struct {
		value   string
		want    int
		problem string // "" when accepted
	}{
		{"0", 0, ""},
		{"3", 3, ""},
		{"007", 7, ""},
		{"18", 18, ""}, // the model's feature count
		{"19", 0, ingest.FieldOutOfRange},
		{"999999999", 0, ingest.FieldOutOfRange},
		{"99999999999999999999", 0, ingest.FieldOutOfRange}, // would overflow an int
		{"", 0, ingest.FieldInvalidInteger},
		{"-1", 0, ingest.FieldInvalidInteger},
		{"+3", 0, ingest.FieldInvalidInteger},
		{" 3", 0, ingest.FieldInvalidInteger},
		{"3.0", 0, ingest.FieldInvalidInteger},
		{"three", 0, ingest.FieldInvalidInteger},
		{"٣", 0, ingest.FieldInvalidInteger}, // an Arabic-Indic digit is not ASCII
	} {
		k, err := ingest.ParseExplain(ingest.HeaderExplain, c.value, s)
		if c.problem == "" {
			if err != nil || k != c.want {
				t.Errorf("%q: %d, %v; want %d", c.value, k, err, c.want)
			}
			continue
		}
		var ie *ingest.InputError
		if !errors.As(err, &ie) || ie.Code != ingest.CodeInvalidInput || ie.Fields[ingest.HeaderExplain] != c.problem {
			t.Errorf("%q: %d, %v; want %s=%s", c.value, k, err, ingest.HeaderExplain, c.problem)
			continue
		}
		if !strings.Contains(ie.Message, "0..18") {
			t.Errorf("%q: message %q does not state the range", c.value, ie.Message)
		}
	}
}

// FuzzParseExplain checks ParseExplain against strconv: a value is taken
// exactly when it is ASCII digits whose integer is within 0..18, and then
// as that integer; every refusal is a per-field error whose message is the
// same whatever the value (it cannot echo it).
func FuzzParseExplain(f *testing.F) {
	for _, v := range []string{"0", "4", "18", "19", "", "-1", "1e3", "0x10", "٣", "00000000000000000004", "\x00"} {
		f.Add(v)
	}
	s := explainSchema()
	f.Fuzz(func(t *testing.T, v string) {
		k, err := ingest.ParseExplain(ingest.QueryExplain, v, s)
		digits := v != "" && strings.Trim(v, "0123456789") == ""
		n, perr := strconv.ParseUint(v, 10, 64)
		wantOK := digits && perr == nil && n <= 18
		if wantOK {
			if err != nil || k != int(n) {
				t.Fatalf("%q: %d, %v; want %d", v, k, err, n)
			}
			return
		}
		var ie *ingest.InputError
		if !errors.As(err, &ie) || len(ie.Fields) != 1 {
			t.Fatalf("%q: %d, %v; want a per-field error", v, k, err)
		}
		want := ingest.FieldInvalidInteger
		if digits {
			want = ingest.FieldOutOfRange
		}
		if ie.Fields[ingest.QueryExplain] != want {
			t.Fatalf("%q: fields %v, want %s=%s", v, ie.Fields, ingest.QueryExplain, want)
		}
		// The message never depends on the value, so it cannot echo it.
		if ie.Message != "explain: want the number of reasons, an integer within 0..18 (the model's features)" {
			t.Fatalf("%q: message %q", v, ie.Message)
		}
	})
}

// demoHarness is a harness serving the embedded demo model, which has
// leaf weights (it explains) and categorical features (it reports unseen
// values).
func demoHarness(t *testing.T) (*harness, *model.Loaded) {
	t.Helper()
	data := demo.Bytes()
	cb, err := catboost.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	mdl := model.NewLoaded(cb, model.Version(demo.Name, data), true)
	// Prepare the explanations before serving, as serve does with
	// explain.top_k > 0: the first ask would otherwise pay it (seconds
	// under the race detector).
	if _, err := model.Explained(mdl.Model); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	h.holder.Swap(mdl)
	return h, mdl
}

type wireReason struct {
	Feature      string          `json:"feature"`
	Value        json.RawMessage `json:"value"`
	Contribution float64         `json:"contribution"`
}

type wireNote struct {
	DefaultProba *float64     `json:"default_proba"`
	Reasons      []wireReason `json:"reasons"`
	Unseen       []string     `json:"unseen"`
}

// wantReasons is the reference: the top k positive SHAP values of the row
// (as model.Explain gives them), by feature name, largest first.
func wantReasons(t *testing.T, mdl *model.Loaded, floats map[string]float64, cats map[string]string, k int) []wireReason {
	t.Helper()
	s := mdl.Schema()
	b := model.NewBatch(s, 1)
	fs, cs := b.AppendRow()
	for name, v := range floats {
		f, _ := s.Lookup(name)
		fs[f.Index] = v
	}
	for name, v := range cats {
		f, _ := s.Lookup(name)
		cs[f.Index] = v
	}
	shap := make([]float64, model.ExplanationWidth(s, 1))
	if _, err := model.Explained(mdl.Model); err != nil {
		t.Fatal(err)
	}
	if err := model.Explain(mdl.Model, b, shap); err != nil {
		t.Fatal(err)
	}
	var out []wireReason
	taken := make([]bool, len(s.Features))
	for range k {
		best := -1
		for i := range s.Features {
			if !taken[i] && shap[i] > 0 && (best < 0 || shap[i] > shap[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		taken[best] = true
		out = append(out, wireReason{Feature: s.Features[best].Name, Contribution: shap[best]})
	}
	return out
}

var (
	seedAFloats = map[string]float64{"Term": 84, "NoEmp": 5, "CreateJob": 0, "RetainedJob": 5, "longitude": -77.9221, "latitude": 35.3664, "GrAppv": 1500000, "SBA_Appv": 1275000, "UrbanRural": 1}
	seedACats   = map[string]string{"is_new": "True", "FranchiseCode": "0", "City": "Other", "State": "NC", "Bank": "BBCN BANK", "BankState": "CA", "RevLineCr": "N", "naics_first_two": "45", "same_state": "False"}
)

func checkReasons(t *testing.T, got, want []wireReason) {
	t.Helper()
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("reasons %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Feature != want[i].Feature || math.Abs(got[i].Contribution-want[i].Contribution) > 1e-12*math.Max(1, math.Abs(want[i].Contribution)) {
			t.Fatalf("reason %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestHTTPPredictExplain: ?explain=K adds the row's top K reasons (the
// reference: model.Explain's largest positive values), with the values as
// sent; explain=0 or no query keeps the seed's body byte for byte; bad
// values are per-field 400s.
func TestHTTPPredictExplain(t *testing.T) {
	h, mdl := demoHarness(t)
	ts := startHTTP(t, h, ingest.DefaultHTTPConfig(), always)
	want := wantReasons(t, mdl, seedAFloats, seedACats, 3)

	plain := post(t, ts.URL, seedA)
	r := postURL(t, ts.URL+"/predict?explain=3", seedA)
	var n wireNote
	if err := json.Unmarshal([]byte(r.body), &n); err != nil || r.status != 200 || n.DefaultProba == nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	checkReasons(t, n.Reasons, want)
	for _, rs := range n.Reasons {
		var v any
		_ = json.Unmarshal(rs.Value, &v)
		if f, ok := seedAFloats[rs.Feature]; ok && v != f {
			t.Errorf("%s: value %s, sent %v", rs.Feature, rs.Value, f)
		}
		if c, ok := seedACats[rs.Feature]; ok && v != c {
			t.Errorf("%s: value %s, model received %q", rs.Feature, rs.Value, c)
		}
	}
	if !strings.HasPrefix(r.body, strings.TrimSuffix(strings.TrimSpace(plain.body), "}")+`,"reasons":[`) {
		t.Errorf("with reasons %s, without %s: the score must be the same field, first", r.body, plain.body)
	}
	for _, q := range []string{"explain=0", "other=%zz", "other=1"} {
		if r := postURL(t, ts.URL+"/predict?"+q, seedA); r.status != 200 || r.body != plain.body {
			t.Errorf("%s: %d %s, want the seed's %s", q, r.status, r.body, plain.body)
		}
	}
	// An unseen value changes the score, not the shape, unless asked.
	unseen := strings.Replace(seedA, `"State":"NC"`, `"State":"nc"`, 1)
	if r := post(t, ts.URL, unseen); r.status != 200 || !strings.HasPrefix(r.body, `{"default_proba":`) || strings.Contains(r.body, "unseen") {
		t.Errorf("unseen value without explain: %d %s, want the seed's shape", r.status, r.body)
	}
	if r := postURL(t, ts.URL+"/predict?explain=1", unseen); !strings.Contains(r.body, `"unseen":["State"]`) {
		t.Errorf("unseen value with explain=1: %d %s, want \"unseen\":[\"State\"]", r.status, r.body)
	}
	if r := postURL(t, ts.URL+"/predict?other=%zz&explain=1", seedA); !strings.Contains(r.body, `"reasons":[{"feature":"Term"`) {
		t.Errorf("explain=1 beside a malformed parameter: %d %s", r.status, r.body)
	}
	arr := postURL(t, ts.URL+"/predict?explain=1", "["+seedA+`,{"Term":1}]`)
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(arr.body), &items); err != nil || len(items) != 2 {
		t.Fatalf("array: %d %s", arr.status, arr.body)
	}
	var first wireNote
	_ = json.Unmarshal(items[0], &first)
	checkReasons(t, first.Reasons, want[:1])

	for _, c := range []struct{ query, problem string }{
		{"explain=x", ingest.FieldInvalidInteger},
		{"explain=-1", ingest.FieldInvalidInteger},
		{"explain=19", ingest.FieldOutOfRange},
		{"explain=", ingest.FieldInvalidInteger},
		{"explain=1&explain=2", ingest.FieldDuplicate},
	} {
		r := postURL(t, ts.URL+"/predict?"+c.query, seedA)
		var e struct {
			Error struct {
				Code   string
				Fields map[string]string
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(r.body), &e); err != nil || r.status != http.StatusBadRequest ||
			e.Error.Code != ingest.CodeInvalidInput || e.Error.Fields["explain"] != c.problem {
			t.Errorf("%s: %d %s, want 400 explain=%s", c.query, r.status, r.body, c.problem)
		}
	}
}

func postURL(t *testing.T, url, body string) httpReply {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpReply{resp.StatusCode, resp.Header, string(data)}
}

// TestSyncExplainAndUnseen: the Explain header gives reasons on the sync
// service; a category the model never saw is listed in "unseen" whether or
// not reasons were asked, and counted per feature.
func TestSyncExplainAndUnseen(t *testing.T) {
	h, mdl := demoHarness(t)
	nc := startSync(t, h)
	ask := func(body, explain string) *nats.Msg {
		msg := nats.NewMsg("loans.score.sync")
		msg.Data = []byte(body)
		msg.Header.Set("Nats-Msg-Id", "s-1")
		if explain != "" {
			msg.Header.Set(ingest.HeaderExplain, explain)
		}
		resp, err := nc.RequestMsg(msg, 10e9)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var n wireNote
	resp := ask(seedA, "2")
	if err := json.Unmarshal(resp.Data, &n); err != nil || n.DefaultProba == nil {
		t.Fatalf("%s", resp.Data)
	}
	checkReasons(t, n.Reasons, wantReasons(t, mdl, seedAFloats, seedACats, 2))
	if n.Unseen != nil {
		t.Errorf("seed A has no unseen value, got %v", n.Unseen)
	}

	unseen := strings.Replace(seedA, `"State":"NC"`, `"State":"nc"`, 1)
	resp = ask(unseen, "")
	n = wireNote{}
	if err := json.Unmarshal(resp.Data, &n); err != nil || n.DefaultProba == nil || n.Reasons != nil {
		t.Fatalf("%s", resp.Data)
	}
	if len(n.Unseen) != 1 || n.Unseen[0] != "State" {
		t.Errorf("unseen %v, want [State] (the model knows NC, not nc)", n.Unseen)
	}
	if got := counterOf(t, h, "scorer_unseen_values_total", "State"); got != 1 {
		t.Errorf("scorer_unseen_values_total{feature=State} = %v, want 1", got)
	}

	resp = ask(seedA, "abc")
	var e result
	if err := json.Unmarshal(resp.Data, &e); err != nil || e.Error == nil || e.Error.Fields[ingest.HeaderExplain] != ingest.FieldInvalidInteger {
		t.Fatalf("bad header: %s", resp.Data)
	}
}

// counterOf reads one labelled counter from h's registry.
func counterOf(t *testing.T, h *harness, name, feature string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "feature" && l.GetValue() == feature {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
