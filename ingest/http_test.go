package ingest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/worker"
)

func startHTTP(t *testing.T, h *harness, cfg ingest.HTTPConfig, ready func() bool) *httptest.Server {
	t.Helper()
	info := func() any { return map[string]string{"name": "loan-scorer", "version": "test"} }
	srv := ingest.NewHTTPServer(cfg, h.door(nil), ready, info, h.reg)
	ts := httptest.NewServer(srv.Handler)
	t.Cleanup(ts.Close)
	return ts
}

func always() bool { return true }

type httpReply struct {
	status int
	header http.Header
	body   string
}

func post(t *testing.T, url, body string) httpReply {
	t.Helper()
	resp, err := http.Post(url+"/predict", "application/json", strings.NewReader(body))
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

func get(t *testing.T, url string) httpReply {
	t.Helper()
	resp, err := http.Get(url)
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

func checkJSONHeaders(t *testing.T, r httpReply) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no X-Content-Type-Options: nosniff")
	}
	if !json.Valid([]byte(r.body)) {
		t.Errorf("body is not JSON: %s", r.body)
	}
}

func TestHTTPPredict(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	ts := startHTTP(t, h, ingest.DefaultHTTPConfig(), always)

	r := post(t, ts.URL, h.application(3))
	checkJSONHeaders(t, r)
	var one map[string]float64
	if err := json.Unmarshal([]byte(r.body), &one); err != nil || r.status != 200 {
		t.Fatalf("%d %s (%v)", r.status, r.body, err)
	}
	if len(one) != 1 || one["default_proba"] != h.expect(t, 3) {
		t.Fatalf("body %s, want default_proba %v (the seed's shape)", r.body, h.expect(t, 3))
	}

	r = post(t, ts.URL, "["+h.application(0)+`,{"0":true},`+h.application(2)+"]")
	checkJSONHeaders(t, r)
	var many []map[string]any
	if err := json.Unmarshal([]byte(r.body), &many); err != nil || r.status != 200 || len(many) != 3 {
		t.Fatalf("%d %s (%v)", r.status, r.body, err)
	}
	if many[0]["default_proba"] != h.expect(t, 0) || many[2]["default_proba"] != h.expect(t, 2) || many[1]["error"] == nil {
		t.Fatalf("array body %s", r.body)
	}
}

func TestHTTPPredictRegression(t *testing.T) {
	h := newHarness(t, "regression_named", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	ts := startHTTP(t, h, ingest.DefaultHTTPConfig(), always)
	app := h.application(0)
	if !strings.Contains(app, `"Term":`) {
		t.Fatalf("named features expected: %s", app)
	}
	r := post(t, ts.URL, app)
	var one map[string]float64
	if err := json.Unmarshal([]byte(r.body), &one); err != nil || r.status != 200 || one["prediction"] != h.expect(t, 0) {
		t.Fatalf("%d %s, want prediction %v", r.status, r.body, h.expect(t, 0))
	}
}

func TestHTTPErrors(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	cfg := ingest.DefaultHTTPConfig()
	cfg.MaxBody = 2000
	var ready atomic.Bool
	ready.Store(true)
	ts := startHTTP(t, h, cfg, ready.Load)

	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"missing field", `{"0":1}`, 400, "invalid_input"},
		{"malformed", `{"0":`, 400, "invalid_input"},
		{"markup is not echoed", `<script>alert(1)</script>`, 400, "invalid_input"},
		{"body over max_body", `{"pad":"` + strings.Repeat("x", 3000) + `"}`, 413, "payload_too_large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, ts.URL, c.body)
			checkJSONHeaders(t, r)
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || r.status != c.status || e.Error.Code != c.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
			if strings.Contains(r.body, "<script>") {
				t.Fatalf("input echoed: %s", r.body)
			}
		})
	}

	if r := get(t, ts.URL+"/predict"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /predict: %d", r.status)
	}
	ready.Store(false)
	if r := post(t, ts.URL, h.application(0)); r.status != 503 || !strings.Contains(r.body, "not_ready") {
		t.Errorf("not ready: %d %s", r.status, r.body)
	}
}

// TestHTTPOverloaded: the batcher is not running and its queue holds one
// job; a first request waits in it, the next is answered 503 at once.
func TestHTTPOverloaded(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.Config{MaxSize: 8, MaxWait: time.Millisecond, Queue: 1}, ingest.DefaultLimits(), false)
	ts := startHTTP(t, h, ingest.DefaultHTTPConfig(), always)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan struct{})
	go func() {
		defer close(first)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/predict", strings.NewReader(h.application(0)))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	testkit.Eventually(t, 10*time.Second, "first request queued", func() bool {
		var m dto.Metric
		_ = h.met.InFlight.Write(&m)
		return m.GetGauge().GetValue() == 1
	})
	r := post(t, ts.URL, h.application(1))
	if r.status != 503 || !strings.Contains(r.body, `"overloaded"`) {
		t.Fatalf("%d %s, want 503 overloaded", r.status, r.body)
	}
	cancel()
	<-first
}

func TestHTTPProbesAndIndex(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	demo := *h.model
	demo.Demo = true
	h.holder.Swap(&demo)
	var ready atomic.Bool
	ts := startHTTP(t, h, ingest.DefaultHTTPConfig(), ready.Load)

	if r := get(t, ts.URL+"/healthz"); r.status != 200 {
		t.Errorf("/healthz %d", r.status)
	}
	if r := get(t, ts.URL+"/readyz"); r.status != 503 {
		t.Errorf("/readyz before ready: %d", r.status)
	}
	ready.Store(true)
	if r := get(t, ts.URL+"/readyz"); r.status != 200 {
		t.Errorf("/readyz when ready: %d", r.status)
	}

	r := get(t, ts.URL+"/")
	checkJSONHeaders(t, r)
	var idx struct {
		Service map[string]string
		Model   struct {
			Version  string
			Features []struct{ Name, Kind string }
		}
		Notice string
		Links  map[string]string
	}
	if err := json.Unmarshal([]byte(r.body), &idx); err != nil || r.status != 200 {
		t.Fatalf("%d %s (%v)", r.status, r.body, err)
	}
	if idx.Service["name"] != "loan-scorer" || idx.Model.Version != h.model.Version || len(idx.Model.Features) != 6 ||
		idx.Model.Features[0].Kind != "float" || !strings.Contains(idx.Notice, "illustrative") || idx.Links["metrics"] == "" {
		t.Fatalf("index %s", r.body)
	}
	if r := get(t, ts.URL+"/nope"); r.status != 404 {
		t.Errorf("/nope %d", r.status)
	}

	post(t, ts.URL, h.application(0))
	r = get(t, ts.URL+"/metrics")
	if r.status != 200 || !strings.Contains(r.body, `scorer_requests_total{outcome="scored",path="http"} 1`) ||
		!strings.Contains(r.body, "scorer_batch_size_rows_bucket") {
		t.Fatalf("/metrics %d:\n%s", r.status, r.body)
	}
}

func TestHTTPConfigValidate(t *testing.T) {
	if err := ingest.DefaultHTTPConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ingest.DefaultHTTPConfig()
	bad.Addr = "8989"
	if bad.Validate() == nil {
		t.Error("addr without port accepted")
	}
	bad = ingest.DefaultHTTPConfig()
	bad.MaxBody = 0
	if bad.Validate() == nil {
		t.Error("max_body 0 accepted")
	}
}

// TestHTTPSeedOnDemoModel: the seed's two example applications, posted as
// the Flask clients post them, score on the embedded demo model exactly as
// the model scores a row built by hand from the same values by name (the
// demo model interleaves numeric and categorical features in its flat
// order, so this checks the mapping by name against a real schema).
func TestHTTPSeedOnDemoModel(t *testing.T) {
	data := demo.Bytes()
	cb, err := catboost.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	mdl := model.NewLoaded(cb, model.Version(demo.Name, data), true)
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	h.holder.Swap(mdl)
	ts := startHTTP(t, h, ingest.DefaultHTTPConfig(), always)

	byHand := func(floats map[string]float64, cats map[string]string) float64 {
		b := model.NewBatch(mdl.Schema(), 1)
		fs, cs := b.AppendRow()
		for name, v := range floats {
			f, ok := mdl.Schema().Lookup(name)
			if !ok || f.Kind != model.Float {
				t.Fatalf("demo model has no numeric feature %s", name)
			}
			fs[f.Index] = v
		}
		for name, v := range cats {
			f, ok := mdl.Schema().Lookup(name)
			if !ok || f.Kind != model.Categorical {
				t.Fatalf("demo model has no categorical feature %s", name)
			}
			cs[f.Index] = v
		}
		out := make([]float64, 1)
		if err := mdl.Predict(b, mdl.Prediction, out); err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	wantA := byHand(
		map[string]float64{"Term": 84, "NoEmp": 5, "CreateJob": 0, "RetainedJob": 5, "longitude": -77.9221, "latitude": 35.3664, "GrAppv": 1500000, "SBA_Appv": 1275000, "UrbanRural": 1},
		map[string]string{"is_new": "True", "FranchiseCode": "0", "City": "Other", "State": "NC", "Bank": "BBCN BANK", "BankState": "CA", "RevLineCr": "N", "naics_first_two": "45", "same_state": "False"})
	wantB := byHand(
		map[string]float64{"Term": 19, "NoEmp": 10, "CreateJob": 0, "RetainedJob": 10, "longitude": -85.0117, "latitude": 41.0699, "GrAppv": 3500000, "SBA_Appv": 1750000, "UrbanRural": 2},
		map[string]string{"is_new": "False", "FranchiseCode": "1", "City": "Other", "State": "IN", "Bank": "WELLS FARGO BANK NATL ASSOC", "BankState": "SD", "RevLineCr": "Y", "naics_first_two": "81", "same_state": "False"})

	r := post(t, ts.URL, seedA)
	var one map[string]float64
	if err := json.Unmarshal([]byte(r.body), &one); err != nil || r.status != 200 || one["default_proba"] != wantA {
		t.Fatalf("seed A: %d %s, want default_proba %v", r.status, r.body, wantA)
	}
	r = post(t, ts.URL, "["+seedA+","+seedB+"]")
	var many []map[string]float64
	if err := json.Unmarshal([]byte(r.body), &many); err != nil || len(many) != 2 ||
		many[0]["default_proba"] != wantA || many[1]["default_proba"] != wantB {
		t.Fatalf("seed array: %d %s, want %v and %v", r.status, r.body, wantA, wantB)
	}
	if wantA == wantB {
		t.Fatal("the two seed applications score the same: the check above cannot tell them apart")
	}
}
