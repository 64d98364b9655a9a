package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/sink"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/model/xgboost"
	"github.com/loan-scorer/loan-scorer/worker"
)

// xgbCase is a real model with rows and the probabilities XGBoost 1.7.4
// itself predicted for them (kept by model/xgboost in testdata).
type xgbCase struct {
	model *model.Loaded
	rows  [][]*float64 // nil = missing
	want  []float64
}

// loadXGB loads testdata model name ("binary_logistic") with its cases.
func loadXGB(t testing.TB, name string) xgbCase {
	t.Helper()
	dir := filepath.Join(testkit.RepoRoot(t), "model", "xgboost", "testdata")
	data, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := xgboost.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var expected map[string]json.RawMessage
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatal(err)
	}
	var c struct {
		Rows    [][]*float64 `json:"rows"`
		Predict []float64    `json:"predict"`
	}
	if err := json.Unmarshal(expected[name], &c); err != nil {
		t.Fatal(err)
	}
	return xgbCase{model: model.NewLoaded(m, model.Version(name, data), false), rows: c.Rows, want: c.Predict}
}

// application returns row i as a JSON object keyed by the schema's names.
func (c xgbCase) application(i int) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for j, f := range c.model.Schema().Features {
		if j > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Quote(f.Name) + ":")
		if v := c.rows[i][f.Index]; v == nil {
			sb.WriteString("null")
		} else {
			sb.WriteString(strconv.FormatFloat(*v, 'g', -1, 64))
		}
	}
	sb.WriteByte('}')
	return sb.String()
}

// expect returns the model's own prediction for row i, after checking that
// it matches XGBoost's (float32 output) closely.
func (c xgbCase) expect(t testing.TB, i int) float64 {
	t.Helper()
	b := model.NewBatch(c.model.Schema(), 1)
	floats, _ := b.AppendRow()
	for j, v := range c.rows[i] {
		if v != nil {
			floats[j] = *v
		}
	}
	out := make([]float64, c.model.Width())
	if err := c.model.Predict(b, c.model.Prediction, out); err != nil {
		t.Fatal(err)
	}
	if math.Abs(out[0]-c.want[i]) > 1e-6 {
		t.Fatalf("row %d: model gives %v, XGBoost %v", i, out[0], c.want[i])
	}
	return out[0]
}

// harness is a real batcher and metrics registry around one model.
type harness struct {
	xgbCase
	holder *model.Holder
	cache  *ingest.DecoderCache
	b      *worker.Batcher
	reg    *prometheus.Registry
	met    *metrics.Metrics
}

func newHarness(t *testing.T, name string, cfg worker.Config, lim ingest.Limits, run bool) *harness {
	t.Helper()
	h := &harness{xgbCase: loadXGB(t, name), reg: prometheus.NewRegistry()}
	h.holder = model.NewHolder(h.model)
	h.cache = ingest.NewDecoderCache(ingest.DefaultSchemaConfig(), lim)
	h.met = metrics.New(h.reg)
	h.b = worker.NewBatcher(cfg, 2, h.met)
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = h.b.Run(ctx); close(done) }()
		t.Cleanup(func() {
			h.b.Close()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("batcher did not stop")
			}
			cancel()
		})
	}
	return h
}

// door is the front door of h, wired as the service wires it, with log.
func (h *harness) door(log *slog.Logger) ingest.FrontDoor {
	return ingest.FrontDoor{Models: h.holder, Decoders: h.cache.Get, Scorer: h.b, Bodies: sink.Bodies{}, Metrics: h.met, Log: log}
}

func startSync(t *testing.T, h *harness) *nats.Conn {
	t.Helper()
	_, nc := testkit.StartNATS(t)
	svc, err := ingest.NewSyncService(nc, ingest.DefaultSyncConfig(), h.door(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	return nc
}

func request(t *testing.T, nc *nats.Conn, id, body string) *nats.Msg {
	t.Helper()
	msg := nats.NewMsg("loans.score.sync")
	msg.Data = []byte(body)
	if id != "" {
		msg.Header.Set("Nats-Msg-Id", id)
	}
	resp, err := nc.RequestMsg(msg, 10*time.Second)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	return resp
}

type result struct {
	ID           string  `json:"id"`
	DefaultProba float64 `json:"default_proba"`
	Model        string  `json:"model"`
	Error        *struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

func TestSyncSingle(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	nc := startSync(t, h)
	for i := range 5 {
		resp := request(t, nc, fmt.Sprintf("app-%d", i), h.application(i))
		if resp.Header.Get(micro.ErrorCodeHeader) != "" {
			t.Fatalf("row %d: error reply %s", i, resp.Data)
		}
		var r result
		if err := json.Unmarshal(resp.Data, &r); err != nil {
			t.Fatalf("%s: %v", resp.Data, err)
		}
		want := h.expect(t, i)
		if r.ID != fmt.Sprintf("app-%d", i) || r.DefaultProba != want || r.Model != h.model.Version {
			t.Fatalf("row %d: %s, want default_proba %v", i, resp.Data, want)
		}
	}
	// Without Nats-Msg-Id the id is a fresh NUID.
	var r result
	if err := json.Unmarshal(request(t, nc, "", h.application(0)).Data, &r); err != nil || len(r.ID) != 22 {
		t.Fatalf("generated id %q (%v)", r.ID, err)
	}
}

func TestSyncArray(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	nc := startSync(t, h)
	body := "[" + h.application(0) + `,{"0":1},` + h.application(1) + "]"
	resp := request(t, nc, "req", body)
	if resp.Header.Get(micro.ErrorCodeHeader) != "" {
		t.Fatalf("error reply %s", resp.Data)
	}
	var rs []result
	if err := json.Unmarshal(resp.Data, &rs); err != nil {
		t.Fatalf("%s: %v", resp.Data, err)
	}
	if len(rs) != 3 {
		t.Fatalf("%d items: %s", len(rs), resp.Data)
	}
	if rs[0].ID != "req:0" || rs[0].DefaultProba != h.expect(t, 0) || rs[2].ID != "req:2" || rs[2].DefaultProba != h.expect(t, 1) {
		t.Fatalf("good items: %s", resp.Data)
	}
	if rs[1].ID != "req:1" || rs[1].Error == nil || rs[1].Error.Code != "invalid_input" || rs[1].Error.Fields["5"] != "missing" {
		t.Fatalf("bad item: %s", resp.Data)
	}
	// All items bad: answered without scoring.
	resp = request(t, nc, "bad", `[{"0":"NaN"},7]`)
	if err := json.Unmarshal(resp.Data, &rs); err != nil || len(rs) != 2 || rs[0].Error == nil || rs[1].Error == nil {
		t.Fatalf("all bad: %s (%v)", resp.Data, err)
	}
}

func TestSyncErrors(t *testing.T) {
	lim := ingest.DefaultLimits()
	lim.MaxPayload = 300
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), lim, true)
	nc := startSync(t, h)
	for _, c := range []struct {
		name, body, status, code, field string
	}{
		{"missing field", `{"0":1,"1":2,"2":3,"3":4,"4":5}`, "400", "invalid_input", "5"},
		{"wrong type", strings.Replace(h.application(1), `"2":`, `"2":"x",`+`"_":`, 1), "400", "invalid_input", "2"},
		{"NaN string", strings.Replace(h.application(1), `"3":`, `"3":"NaN",`+`"_":`, 1), "400", "invalid_input", "3"},
		{"malformed", `{"0":`, "400", "invalid_input", ""},
		{"too large", `{"pad":"` + strings.Repeat("x", 400) + `"}`, "413", "payload_too_large", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := request(t, nc, "e1", c.body)
			if got := resp.Header.Get(micro.ErrorCodeHeader); got != c.status {
				t.Fatalf("status %q, want %s: %s", got, c.status, resp.Data)
			}
			if resp.Header.Get(micro.ErrorHeader) == "" {
				t.Fatal("no Nats-Service-Error header")
			}
			var r result
			if err := json.Unmarshal(resp.Data, &r); err != nil || r.Error == nil {
				t.Fatalf("body %s (%v)", resp.Data, err)
			}
			if r.ID != "e1" || r.Error.Code != c.code || (c.field != "" && r.Error.Fields[c.field] == "") {
				t.Fatalf("body %s", resp.Data)
			}
		})
	}
}

// TestSyncOverloaded: with the batcher not running and a queue of one, the
// first request fills the queue and the second is answered 503 at once.
func TestSyncOverloaded(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.Config{MaxSize: 8, MaxWait: time.Millisecond, Queue: 1}, ingest.DefaultLimits(), false)
	nc := startSync(t, h)
	if err := nc.PublishRequest("loans.score.sync", nc.NewRespInbox(), []byte(h.application(0))); err != nil {
		t.Fatal(err)
	}
	resp := request(t, nc, "o", h.application(1))
	if got := resp.Header.Get(micro.ErrorCodeHeader); got != "503" {
		t.Fatalf("status %q, want 503: %s", got, resp.Data)
	}
	if !strings.Contains(string(resp.Data), `"code":"overloaded"`) {
		t.Fatalf("body %s", resp.Data)
	}
}

func TestSyncMicroInfo(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	nc := startSync(t, h)
	resp, err := nc.Request("$SRV.INFO.loan-scorer", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(resp.Data, &info); err != nil {
		t.Fatal(err)
	}
	if info.Name != "loan-scorer" || info.Version == "" || info.Description == "" || len(info.Endpoints) != 1 {
		t.Fatalf("info %+v", info)
	}
	ep := info.Endpoints[0]
	if ep.Name != "score" || ep.Subject != "loans.score.sync" || ep.Metadata["format"] == "" {
		t.Fatalf("endpoint %+v", ep)
	}
}

// TestSyncConcurrentCallersShareBatches: 32 callers at once get their own
// answers, and the batch-size histogram in the registry shows batches of
// more than one row: the handler hands requests to the batcher and returns.
func TestSyncConcurrentCallersShareBatches(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	nc := startSync(t, h)
	want := make([]float64, len(h.rows))
	for i := range want {
		want[i] = h.expect(t, i)
	}
	const callers, each = 32, 40
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for k := range each {
				i := (c*each + k) % len(h.rows)
				id := fmt.Sprintf("c%d-%d", c, k)
				msg := nats.NewMsg("loans.score.sync")
				msg.Header.Set("Nats-Msg-Id", id)
				msg.Data = []byte(h.application(i))
				resp, err := nc.RequestMsg(msg, 20*time.Second)
				if err != nil {
					t.Errorf("caller %d: %v", c, err)
					return
				}
				var r result
				if err := json.Unmarshal(resp.Data, &r); err != nil || r.ID != id || r.DefaultProba != want[i] {
					t.Errorf("caller %d request %d: %s, want id %s proba %v", c, k, resp.Data, id, want[i])
					return
				}
			}
		})
	}
	wg.Wait()

	families, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	var sum, single float64
	for _, f := range families {
		if f.GetName() != "scorer_batch_size_rows" {
			continue
		}
		hist := f.GetMetric()[0].GetHistogram()
		count, sum = hist.GetSampleCount(), hist.GetSampleSum()
		single = float64(hist.GetBucket()[0].GetCumulativeCount()) // le="1"
	}
	t.Logf("%d requests in %d batches (%.0f of one row), mean %.2f rows", callers*each, count, single, sum/float64(count))
	if sum != callers*each {
		t.Fatalf("histogram holds %v rows, want %d", sum, callers*each)
	}
	if single == float64(count) {
		t.Fatalf("all %d batches held one row", count)
	}
}

// catboostFixture returns the directory of a real CatBoost fixture model
// ($CATBOOST_FIXTURES, else ../shared/fixtures/catboost beside the repo);
// without fixtures the test fails in CI and is skipped elsewhere.
func catboostFixture(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("CATBOOST_FIXTURES")
	if dir == "" {
		dir = filepath.Join(testkit.RepoRoot(t), "..", "shared", "fixtures", "catboost")
	}
	dir = filepath.Join(dir, name)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CatBoost fixture missing in CI: %v", err)
		}
		t.Skipf("CatBoost fixture missing: %v", err)
	}
	return dir
}

// churnCase is rwg-churn-mixed: a CatBoost 1.2.10 binary classifier over
// two numbers and two categories, with the probabilities CatBoost's Python
// package computed for 20 rows.
type churnCase struct {
	model *model.Loaded
	apps  []string  // the rows as JSON applications
	want  []float64 // CatBoost's P(class 1)
}

func loadChurn(t *testing.T) churnCase {
	t.Helper()
	dir := catboostFixture(t, "rwg-churn-mixed")
	data, err := os.ReadFile(filepath.Join(dir, "model.cbm"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := catboost.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Cases []struct {
			Floats []float64 `json:"float_features"`
			Cats   []string  `json:"cat_features"`
			Prob   []float64 `json:"expected_probability"`
		} `json:"cases"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	c := churnCase{model: model.NewLoaded(m, model.Version("churn", data), false)}
	for _, cs := range manifest.Cases {
		fields := []string{}
		for _, f := range m.Schema().Features {
			v := ""
			if f.Kind == model.Float {
				v = strconv.FormatFloat(cs.Floats[f.Index], 'g', -1, 64)
			} else {
				v = strconv.Quote(cs.Cats[f.Index])
			}
			fields = append(fields, strconv.Quote(f.Name)+":"+v)
		}
		// Reversed field order: mapping is by name, not position.
		slices.Reverse(fields)
		c.apps = append(c.apps, "{"+strings.Join(fields, ",")+"}")
		c.want = append(c.want, cs.Prob[0])
	}
	if len(c.apps) == 0 {
		t.Fatal("no cases in the churn fixture")
	}
	return c
}

// TestSyncCatBoostProbabilities: applications with categories answered over
// the sync service carry the probabilities real CatBoost computed.
func TestSyncCatBoostProbabilities(t *testing.T) {
	churn := loadChurn(t)
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	h.holder.Swap(churn.model)
	nc := startSync(t, h)
	resp := request(t, nc, "churn", "["+strings.Join(churn.apps, ",")+"]")
	var rs []result
	if err := json.Unmarshal(resp.Data, &rs); err != nil || len(rs) != len(churn.apps) {
		t.Fatalf("%s (%v)", resp.Data, err)
	}
	for i, r := range rs {
		if r.Error != nil || math.Abs(r.DefaultProba-churn.want[i]) > 1e-9 || r.Model != churn.model.Version {
			t.Errorf("row %d: %+v, want default_proba %v from CatBoost", i, r, churn.want[i])
		}
	}
}

// BenchmarkSync measures the sync service end to end over a real in-process
// NATS server: the seed application on the demo model, 1 and 32 concurrent
// callers. It reports requests/s and the p50/p99 round trip. Its baseline,
// measured the same way in the same run, is BenchmarkSyncBaseline.
func BenchmarkSync(b *testing.B) {
	data := demo.Bytes()
	cb, err := catboost.Load(data)
	if err != nil {
		b.Fatal(err)
	}
	for _, callers := range []int{1, 32} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			mdl := model.NewLoaded(cb, model.Version(demo.Name, data), true)
			bt := worker.NewBatcher(worker.DefaultConfig(), 0, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = bt.Run(ctx) }()
			srv, nc := testkit.StartNATS(b)
			cache := ingest.NewDecoderCache(ingest.DefaultSchemaConfig(), ingest.DefaultLimits())
			svc, err := ingest.NewSyncService(nc, ingest.DefaultSyncConfig(), ingest.FrontDoor{Models: model.NewHolder(mdl), Decoders: cache.Get, Scorer: bt, Bodies: sink.Bodies{}})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = svc.Stop(context.Background()) }()
			benchRequests(b, srv, callers)
		})
	}
}

// BenchmarkSyncBaseline is plain request-reply on the same in-process
// server: a queue subscriber answering a constant body of the result's size
// (what `nats bench service serve` does), the ceiling for BenchmarkSync.
func BenchmarkSyncBaseline(b *testing.B) {
	reply := []byte(`{"id":"xxxxxxxxxxxxxxxxxxxxxx","default_proba":0.031234567890123,"model":"loan-demo@0123456789ab"}`)
	for _, callers := range []int{1, 32} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			srv, nc := testkit.StartNATS(b)
			if _, err := nc.QueueSubscribe("loans.score.sync", "q", func(m *nats.Msg) { _ = m.Respond(reply) }); err != nil {
				b.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				b.Fatal(err)
			}
			benchRequests(b, srv, callers)
		})
	}
}

// benchRequests sends b.N seed applications from callers connections and
// reports req/s, p50 and p99.
func benchRequests(b *testing.B, srv *server.Server, callers int) {
	conns := make([]*nats.Conn, callers)
	for i := range conns {
		conns[i] = testkit.Connect(b, srv)
	}
	payload := []byte(seedA)
	lat := make([][]time.Duration, callers)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				if _, err := conns[c].Request("loans.score.sync", payload, 10*time.Second); err != nil {
					b.Error(err)
					return
				}
				lat[c] = append(lat[c], time.Since(start))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "req/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}

// TestSyncModelSwapAndScoringFailure: results name the model that scored
// them, so a Swap shows in the next answer; a batch the backend refuses is
// answered 500 with the error body, from the batcher.
func TestSyncModelSwapAndScoringFailure(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	nc := startSync(t, h)
	var r result
	if err := json.Unmarshal(request(t, nc, "v1", h.application(0)).Data, &r); err != nil || r.Model != h.model.Version {
		t.Fatalf("before swap: %+v (%v)", r, err)
	}
	next := *h.model
	next.Version = "reloaded@0123456789ab"
	h.holder.Swap(&next)
	if err := json.Unmarshal(request(t, nc, "v2", h.application(0)).Data, &r); err != nil || r.Model != next.Version {
		t.Fatalf("after swap: %+v (%v)", r, err)
	}

	broken := *h.model
	broken.Prediction = model.PredictionType(99) // the backend refuses it
	h.holder.Swap(&broken)
	resp := request(t, nc, "v3", h.application(0))
	if resp.Header.Get(micro.ErrorCodeHeader) != "500" {
		t.Fatalf("status %q: %s", resp.Header.Get(micro.ErrorCodeHeader), resp.Data)
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil || r.ID != "v3" || r.Error == nil || r.Error.Code != "internal" {
		t.Fatalf("body %s (%v)", resp.Data, err)
	}
}

func TestSyncConfigValidate(t *testing.T) {
	if err := ingest.DefaultSyncConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mod := range []func(*ingest.SyncConfig){
		func(c *ingest.SyncConfig) { c.Subject = "" },
		func(c *ingest.SyncConfig) { c.Subject = "$SRV.x" },
		func(c *ingest.SyncConfig) { c.Subject = "a b" },
		func(c *ingest.SyncConfig) { c.Name = "" },
		func(c *ingest.SyncConfig) { c.Version = "" },
	} {
		c := ingest.DefaultSyncConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%+v valid", c)
		}
	}
}

// TestSyncLoneRequestDoesNotWait: with batch.max_wait at an hour, a lone
// request is still answered: a batch closes at once when nothing else waits.
func TestSyncLoneRequestDoesNotWait(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.Config{MaxSize: 256, MaxWait: time.Hour, Queue: 16}, ingest.DefaultLimits(), true)
	nc := startSync(t, h)
	for i := range 3 {
		var r result
		if err := json.Unmarshal(request(t, nc, "lone", h.application(i)).Data, &r); err != nil || r.DefaultProba != h.expect(t, i) {
			t.Fatalf("request %d: %+v (%v)", i, r, err)
		}
	}
}
