package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/xgboost"
	"github.com/loan-scorer/loan-scorer/sink"
)

// testModel is a real model: an XGBoost binary:logistic model with six
// unnamed float features (addressed as "0".."5"), trained by XGBoost 1.7.
func testModel(t testing.TB) *model.Loaded {
	t.Helper()
	data, err := os.ReadFile("../model/xgboost/testdata/binary_logistic.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := xgboost.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	return model.NewLoaded(m, model.Version("binary_logistic", data), false)
}

// rig is the async pipeline against a real server.
type rig struct {
	t      *testing.T
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	topo   ingest.Topology
	model  *model.Loaded
	limits ingest.Limits
	reply  ingest.ReplyConfig
	// explain is explain.top_k of the workers started after it is set.
	explain int
}

func newRig(t *testing.T, change func(*ingest.Topology)) *rig {
	t.Helper()
	srv, nc := testkit.StartNATS(t)
	return newRigOn(t, srv, nc, change)
}

func newRigOn(t *testing.T, srv *server.Server, nc *nats.Conn, change func(*ingest.Topology)) *rig {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	topo := ingest.DefaultTopology()
	if change != nil {
		change(&topo)
	}
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.Setup(context.Background(), js, topo, discardLog()); err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, srv: srv, nc: nc, js: js, topo: topo, model: testModel(t), limits: ingest.DefaultLimits(), reply: ingest.DefaultReplyConfig()}
}

// runningWorker is one running Async with its own connection and batcher.
type runningWorker struct {
	async    *Async
	batcher  *Batcher
	runErr   chan error // the batcher's Run
	asyncErr chan error // the Async's Run
	nc       *nats.Conn
	cancel   context.CancelFunc
	metrics  *metrics.Metrics
}

func (r *rig) start(bcfg Config) *runningWorker {
	r.t.Helper()
	m := metrics.New(nil)
	b := NewBatcher(bcfg, 2, m)
	a, nc := r.newAsync(b, m)
	ctx, cancel := context.WithCancel(context.Background())
	w := &runningWorker{async: a, batcher: b, runErr: make(chan error, 1), asyncErr: make(chan error, 1), nc: nc, cancel: cancel, metrics: m}
	go func() { w.runErr <- b.Run(ctx) }()
	go func() { w.asyncErr <- a.Run(ctx) }()
	r.t.Cleanup(func() { w.stop(r.t, 10*time.Second) })
	return w
}

// newAsync builds, on a connection of its own, the async pipeline of one
// worker over the rig's consumer and model, with batcher b (not started by
// newAsync, nor is the pipeline).
func (r *rig) newAsync(b *Batcher, m *metrics.Metrics) (*Async, *nats.Conn) {
	r.t.Helper()
	nc := testkit.Connect(r.t, r.srv)
	js, _ := jetstream.New(nc)
	cons, err := js.Consumer(context.Background(), r.topo.Stream.Name, r.topo.Consumer.Name)
	if err != nil {
		r.t.Fatal(err)
	}
	pub, err := sink.NewPublisher(nc, DefaultPublisherConfigFor(r.topo), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	dec := ingest.NewDecoderCache(ingest.DefaultSchemaConfig(), r.limits)
	f := ingest.NewFetcher(cons, r.topo.Consumer, nc.MaxPayload(), m, discardLog())
	a, err := NewAsync(AsyncParams{
		Fetcher: f, Config: r.topo.Consumer, Reply: r.reply, Models: model.NewHolder(r.model),
		Decoders: dec.Get, Batcher: b, Publisher: pub, MaxPayload: nc.MaxPayload(), Explain: r.explain, Metrics: m, Log: discardLog(),
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return a, nc
}

// stop shuts the worker down as the service does (the consumer drained
// and every message settled, then the batcher) and reports the consumer's
// Stop error.
func (w *runningWorker) stop(t *testing.T, timeout time.Duration) error {
	if w.async == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	defer w.cancel()
	err := w.async.Stop(ctx)
	if berr := w.batcher.Stop(ctx); berr != nil {
		t.Logf("batcher: %v", berr)
	}
	if rerr := <-w.asyncErr; rerr != nil {
		t.Errorf("Async.Run: %v", rerr)
	}
	<-w.runErr
	w.async = nil
	_ = w.nc.Drain()
	return err
}

// DefaultPublisherConfigFor is the publisher configuration the service
// derives from a topology.
func DefaultPublisherConfigFor(t ingest.Topology) sink.PublisherConfig {
	c := sink.DefaultPublisherConfig()
	c.Results, c.DLQ = t.Subjects.Results, t.Subjects.DLQ
	c.ResultsStream, c.DLQStream = t.Results.Stream, t.DLQ.Stream
	return c
}

// application returns a JSON object for the test model and its row.
func application(rng *rand.Rand) ([]byte, []float64) {
	row := make([]float64, 6)
	var sb strings.Builder
	sb.WriteByte('{')
	for i := range row {
		row[i] = rng.NormFloat64() * 2
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%q:%s", strconv.Itoa(i), strconv.FormatFloat(row[i], 'g', -1, 64))
	}
	sb.WriteByte('}')
	return []byte(sb.String()), row
}

func (r *rig) publish(id string, data []byte, hdr map[string]string) {
	r.t.Helper()
	msg := nats.NewMsg(r.topo.Subjects.Score)
	msg.Data = data
	if id != "" {
		msg.Header.Set(sink.HeaderMsgID, id)
	}
	for k, v := range hdr {
		msg.Header.Set(k, v)
	}
	if _, err := r.js.PublishMsg(context.Background(), msg); err != nil {
		r.t.Fatal(err)
	}
}

// stored returns every message of stream, in sequence order.
func (r *rig) stored(stream string) []*jetstream.RawStreamMsg {
	r.t.Helper()
	ctx := context.Background()
	s, err := r.js.Stream(ctx, stream)
	if err != nil {
		r.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			r.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func (r *rig) count(stream string) uint64 {
	r.t.Helper()
	s, err := r.js.Stream(context.Background(), stream)
	if err != nil {
		r.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return info.State.Msgs
}

func (r *rig) consumerInfo() *jetstream.ConsumerInfo {
	r.t.Helper()
	c, err := r.js.Consumer(context.Background(), r.topo.Stream.Name, r.topo.Consumer.Name)
	if err != nil {
		r.t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return info
}

type resultBody struct {
	ID           string   `json:"id"`
	DefaultProba *float64 `json:"default_proba"`
	Model        string   `json:"model"`
	Error        *struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

func decodeResult(t *testing.T, data []byte) resultBody {
	t.Helper()
	var b resultBody
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatalf("result %q: %v", data, err)
	}
	return b
}

// expected scores rows with the model directly.
func expected(t *testing.T, m *model.Loaded, rows [][]float64) []float64 {
	t.Helper()
	b := model.NewBatch(m.Schema(), len(rows))
	for _, row := range rows {
		f, _ := b.AppendRow()
		copy(f, row)
	}
	out := make([]float64, len(rows))
	if err := m.Predict(b, m.Prediction, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAsyncScoresEveryMessageOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	const n = 300
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make(map[string][]float64, n)
	for i := range n {
		data, row := application(rng)
		id := fmt.Sprintf("app-%d", i)
		rows[id] = row
		hdr := map[string]string{}
		if i == 0 {
			hdr = map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "X-Request-Id": "req-0"}
		}
		r.publish(id, data, hdr)
	}
	// One message without Nats-Msg-Id: its id is LOANS:<sequence> (n+1).
	data, row := application(rng)
	r.publish("", data, nil)
	rows["LOANS:"+strconv.Itoa(n+1)] = row

	w := r.start(DefaultConfig())
	testkit.Eventually(t, 20*time.Second, "all results stored", func() bool { return r.count("LOANS_SCORED") >= n+1 })
	testkit.Eventually(t, 10*time.Second, "input acked", func() bool { return r.count("LOANS") == 0 })

	results := r.stored("LOANS_SCORED")
	if len(results) != n+1 {
		t.Fatalf("%d results, want %d", len(results), n+1)
	}
	seen := map[string]bool{}
	for _, res := range results {
		b := decodeResult(t, res.Data)
		row, ok := rows[b.ID]
		if !ok || seen[b.ID] {
			t.Fatalf("unexpected or repeated result id %q", b.ID)
		}
		seen[b.ID] = true
		want := expected(t, r.model, [][]float64{row})[0]
		if b.DefaultProba == nil || *b.DefaultProba != want {
			t.Errorf("%s: default_proba %v, want %v (model.Predict)", b.ID, b.DefaultProba, want)
		}
		if b.Model != r.model.Version || res.Header.Get("Model") != r.model.Version {
			t.Errorf("%s: model %q / header %q, want %q", b.ID, b.Model, res.Header.Get("Model"), r.model.Version)
		}
		if res.Header.Get("Nats-Msg-Id") != b.ID {
			t.Errorf("%s: result Nats-Msg-Id %q", b.ID, res.Header.Get("Nats-Msg-Id"))
		}
		at, err := time.Parse(time.RFC3339, res.Header.Get("Scored-At"))
		if err != nil || !strings.HasSuffix(res.Header.Get("Scored-At"), "Z") || len(res.Header.Get("Scored-At")) != len("2006-01-02T15:04:05.000Z") || time.Since(at) > time.Minute {
			t.Errorf("%s: Scored-At %q (%v)", b.ID, res.Header.Get("Scored-At"), err)
		}
		if b.ID == "app-0" && (res.Header.Get("traceparent") == "" || res.Header.Get("X-Request-Id") != "req-0") {
			t.Errorf("trace headers not copied: %v", res.Header)
		}
	}
	if info := r.consumerInfo(); info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("consumer: %d ack pending, %d redelivered", info.NumAckPending, info.NumRedelivered)
	}
	if err := w.stop(t, 10*time.Second); err != nil {
		t.Errorf("stop: %v", err)
	}

	// Re-publishing the same ids is dropped by the input's dedup window,
	// and a redelivered input could not store a second result either.
	data, _ = application(rng)
	r.publish("app-0", data, nil)
	if got := r.count("LOANS"); got != 0 {
		t.Errorf("duplicate input stored: LOANS has %d", got)
	}
}

func TestAsyncBadInput(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	r.limits.MaxPayload = 1024
	good, _ := application(rand.New(rand.NewPCG(3, 4)))
	nanField := strings.Replace(string(good), `"2":`, `"2":"NaN","x":`, 1)
	tests := []struct {
		id, payload string
		code        string
		field       string // a field the error must name, with its problem
		problem     string
	}{
		{"bad-json", `{"0":1,`, ingest.CodeInvalidInput, "", ""},
		{"missing", strings.Replace(string(good), `"5":`, `"five":`, 1), ingest.CodeInvalidInput, "5", ingest.FieldMissing},
		{"wrong-type", strings.Replace(string(good), `"1":`, `"1":{"a":1},"y":`, 1), ingest.CodeInvalidInput, "1", ingest.FieldInvalidNumber},
		{"nan", nanField, ingest.CodeInvalidInput, "2", ingest.FieldInvalidNumber},
		{"array", "[" + string(good) + "]", ingest.CodeInvalidInput, "", ""},
		{"too-large", `{"pad":"` + strings.Repeat("x", 2000) + `"}`, ingest.CodePayloadTooLarge, "", ""},
	}
	for _, tc := range tests {
		r.publish(tc.id, []byte(tc.payload), map[string]string{"X-Request-Id": "r-" + tc.id})
	}
	r.publish("good-after", good, nil)
	r.start(DefaultConfig())

	testkit.Eventually(t, 20*time.Second, "every message answered", func() bool {
		return r.count("LOANS_SCORED") == uint64(len(tests)+1) && r.count("LOANS_DLQ") == uint64(len(tests))
	})
	testkit.Eventually(t, 10*time.Second, "input settled", func() bool { return r.count("LOANS") == 0 })

	results := map[string]resultBody{}
	for _, m := range r.stored("LOANS_SCORED") {
		b := decodeResult(t, m.Data)
		results[b.ID] = b
		if b.Error != nil && (m.Header.Get("Error-Code") != b.Error.Code || m.Header.Get("Model") != r.model.Version) {
			t.Errorf("%s: Error-Code header %q, body code %q, Model header %q", b.ID, m.Header.Get("Error-Code"), b.Error.Code, m.Header.Get("Model"))
		}
	}
	dlq := map[string]*jetstream.RawStreamMsg{}
	for _, m := range r.stored("LOANS_DLQ") {
		dlq[m.Header.Get("Nats-Msg-Id")] = m
	}
	for i, tc := range tests {
		b, ok := results[tc.id]
		if !ok || b.Error == nil {
			t.Errorf("%s: no error result (%+v)", tc.id, b)
			continue
		}
		if b.Error.Code != tc.code {
			t.Errorf("%s: code %q, want %q (%s)", tc.id, b.Error.Code, tc.code, b.Error.Message)
		}
		if tc.field != "" && b.Error.Fields[tc.field] != tc.problem {
			t.Errorf("%s: fields %v, want %s=%s", tc.id, b.Error.Fields, tc.field, tc.problem)
		}
		d := dlq["dlq:"+tc.id]
		if d == nil {
			t.Errorf("%s: no dead letter", tc.id)
			continue
		}
		if d.Header.Get("Error-Code") != tc.code || d.Header.Get("Error") == "" ||
			d.Header.Get("Original-Subject") != "loans.score" || d.Header.Get("Original-Sequence") != strconv.Itoa(i+1) ||
			d.Header.Get("X-Request-Id") != "r-"+tc.id {
			t.Errorf("%s: dead letter headers %v", tc.id, d.Header)
		}
		if string(d.Data) != tc.payload {
			t.Errorf("%s: dead letter payload differs from the original", tc.id)
		}
	}
	if b := results["good-after"]; b.DefaultProba == nil {
		t.Errorf("the worker did not keep going: %+v", b)
	}
	if info := r.consumerInfo(); info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("consumer: %d ack pending, %d redelivered (bad input must be termed, not retried)", info.NumAckPending, info.NumRedelivered)
	}
}

func TestAsyncReplyTo(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	r.reply = ingest.ReplyConfig{Allow: []string{"_INBOX.>", "callers.*"}}
	rng := rand.New(rand.NewPCG(5, 6))

	inbox := nats.NewInbox()
	got := make(chan *nats.Msg, 4)
	var refusedMu sync.Mutex
	var refused []string
	sub, err := r.nc.Subscribe(inbox, func(m *nats.Msg) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for _, s := range []string{"elsewhere.x", "$JS.API.STREAM.DELETE.LOANS"} {
		s2, err := r.nc.Subscribe(s, func(m *nats.Msg) {
			refusedMu.Lock()
			refused = append(refused, m.Subject)
			refusedMu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Unsubscribe()
	}
	okData, okRow := application(rng)
	r.publish("to-inbox", okData, map[string]string{"Reply-To": inbox})
	r.publish("to-elsewhere", okData, map[string]string{"Reply-To": "elsewhere.x"})
	r.publish("to-js", okData, map[string]string{"Reply-To": "$JS.API.STREAM.DELETE.LOANS"})
	r.publish("bad-to-inbox", []byte(`{`), map[string]string{"Reply-To": inbox})
	r.start(DefaultConfig())

	want := expected(t, r.model, [][]float64{okRow})[0]
	copies := map[string]resultBody{}
	for len(copies) < 2 {
		select {
		case m := <-got:
			b := decodeResult(t, m.Data)
			copies[b.ID] = b
			if m.Header.Get("Nats-Msg-Id") != b.ID {
				t.Errorf("reply copy headers %v", m.Header)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("reply copies: got %v", copies)
		}
	}
	if b := copies["to-inbox"]; b.DefaultProba == nil || *b.DefaultProba != want {
		t.Errorf("reply copy %+v, want default_proba %v", b, want)
	}
	if b := copies["bad-to-inbox"]; b.Error == nil || b.Error.Code != ingest.CodeInvalidInput {
		t.Errorf("error reply copy %+v", b)
	}
	testkit.Eventually(t, 10*time.Second, "all answered", func() bool { return r.count("LOANS_SCORED") == 4 && r.count("LOANS") == 0 })
	for _, m := range r.stored("LOANS_SCORED") {
		b := decodeResult(t, m.Data)
		if b.ID == "to-elsewhere" || b.ID == "to-js" {
			if b.Error == nil || b.Error.Code != ingest.CodeInvalidInput || b.Error.Fields["Reply-To"] != "not_allowed" {
				t.Errorf("%s: %+v, want invalid_input on Reply-To", b.ID, b)
			}
		}
	}
	if n := r.count("LOANS_DLQ"); n != 3 {
		t.Errorf("%d dead letters, want 3 (two refused Reply-To, one bad JSON)", n)
	}
	// Flush a round trip so any stray copy would have arrived.
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	refusedMu.Lock()
	defer refusedMu.Unlock()
	if len(refused) != 0 {
		t.Errorf("results copied to refused subjects: %v", refused)
	}
}

func TestMaxDeliveriesAreDeadLettered(t *testing.T) {
	r := newRig(t, func(t *ingest.Topology) {
		t.Consumer.AckWait = 200 * time.Millisecond
		t.Consumer.MaxDeliver = 2
		t.Consumer.NakDelay = 100 * time.Millisecond
	})
	pub, err := sink.NewPublisher(r.nc, DefaultPublisherConfigFor(r.topo), nil)
	if err != nil {
		t.Fatal(err)
	}
	reaper, err := ListenMaxDeliveries(context.Background(), r.nc, r.js, r.topo, pub, 0, nil, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	defer reaper.Stop(context.Background())

	// A worker that takes messages and never answers (hung, or too slow on
	// every delivery): each delivery times out.
	cons, err := r.js.Consumer(context.Background(), "LOANS", "scorer")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	deliveries := 0
	cc, err := cons.Consume(func(jetstream.Msg) { mu.Lock(); deliveries++; mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	data, _ := application(rand.New(rand.NewPCG(7, 8)))
	r.publish("stuck-1", data, map[string]string{"traceparent": "00-1-2-01"})

	testkit.Eventually(t, 15*time.Second, "dead letter stored and input deleted", func() bool {
		return r.count("LOANS_DLQ") == 1 && r.count("LOANS") == 0
	})
	d := r.stored("LOANS_DLQ")[0]
	if d.Header.Get("Error-Code") != CodeMaxDeliveries || d.Header.Get("Nats-Msg-Id") != "dlq:stuck-1" ||
		d.Header.Get("Original-Sequence") != "1" || d.Header.Get("traceparent") != "00-1-2-01" || string(d.Data) != string(data) {
		t.Errorf("dead letter %v %q", d.Header, d.Data)
	}
	res := r.stored("LOANS_SCORED")
	if len(res) != 1 {
		t.Fatalf("%d results, want the timeout error result", len(res))
	}
	if b := decodeResult(t, res[0].Data); b.ID != "stuck-1" || b.Error == nil || b.Error.Code != ingest.CodeTimeout {
		t.Errorf("timeout result %+v", b)
	}
	mu.Lock()
	defer mu.Unlock()
	if deliveries != 2 {
		t.Errorf("%d deliveries, want max_deliver 2", deliveries)
	}
}

// A message past max deliveries while the dead-letter stream is away: the
// advisory comes once, so the reaper keeps retrying (here 4 s, well past
// any fixed number of quick attempts) and dead-letters it once the stream
// is back, instead of leaving it in LOANS where nothing delivers it again.
func TestMaxDeliveriesReapedAfterAnOutage(t *testing.T) {
	r := newRig(t, func(t *ingest.Topology) {
		t.Consumer.AckWait = 200 * time.Millisecond
		t.Consumer.MaxDeliver = 2
		t.Consumer.NakDelay = 100 * time.Millisecond
	})
	ctx := context.Background()
	if err := r.js.DeleteStream(ctx, "LOANS_DLQ"); err != nil {
		t.Fatal(err)
	}
	pub, err := sink.NewPublisher(r.nc, DefaultPublisherConfigFor(r.topo), nil)
	if err != nil {
		t.Fatal(err)
	}
	reaper, err := ListenMaxDeliveries(ctx, r.nc, r.js, r.topo, pub, 0, nil, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	defer reaper.Stop(context.Background())
	cons, err := r.js.Consumer(ctx, "LOANS", "scorer")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(jetstream.Msg) {}) // hung: every delivery times out
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	data, _ := application(rand.New(rand.NewPCG(7, 9)))
	r.publish("stuck-2", data, nil)
	testkit.Eventually(t, 15*time.Second, "max deliveries reached", func() bool {
		return r.consumerInfo().Delivered.Consumer >= 2
	})
	outage := time.Now()
	testkit.Eventually(t, 30*time.Second, "4 s of dead-letter outage", func() bool {
		if r.count("LOANS") != 1 {
			t.Fatal("the message left LOANS while it could not be dead-lettered")
		}
		return time.Since(outage) > 4*time.Second
	})
	if _, err := ingest.Setup(ctx, r.js, r.topo, discardLog()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "dead-lettered once the stream is back", func() bool {
		return r.count("LOANS_DLQ") == 1 && r.count("LOANS") == 0
	})
	if d := r.stored("LOANS_DLQ")[0]; d.Header.Get("Error-Code") != CodeMaxDeliveries || d.Header.Get("Nats-Msg-Id") != "dlq:stuck-2" {
		t.Errorf("dead letter %v", d.Header)
	}
}

func TestUnackedMessagesAreRedeliveredAfterACrash(t *testing.T) {
	r := newRig(t, func(t *ingest.Topology) {
		t.Consumer.AckWait = 500 * time.Millisecond
		t.Stream.Duplicates = 2 * time.Minute
	})
	rng := rand.New(rand.NewPCG(9, 10))
	const n = 50
	for i := range n {
		data, _ := application(rng)
		r.publish(fmt.Sprintf("c-%d", i), data, nil)
	}
	// A worker takes a batch and dies without acking (its connection is
	// closed, as on kill -9).
	crashed := testkit.Connect(t, r.srv)
	cjs, _ := jetstream.New(crashed)
	cons, err := cjs.Consumer(context.Background(), "LOANS", "scorer")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(20, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	taken := 0
	for range batch.Messages() {
		taken++
	}
	if taken == 0 {
		t.Fatal("the crashing worker took nothing")
	}
	crashed.Close()

	w := r.start(DefaultConfig())
	testkit.Eventually(t, 20*time.Second, "every message scored", func() bool {
		return r.count("LOANS_SCORED") == n && r.count("LOANS") == 0
	})
	ids := map[string]bool{}
	for _, m := range r.stored("LOANS_SCORED") {
		ids[decodeResult(t, m.Data).ID] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct result ids, want %d", len(ids), n)
	}
	if v := counterValue(w.metrics.RedeliveriesTotal); v < float64(taken) {
		t.Errorf("redelivered counter %v, want at least the %d taken by the crashed worker", v, taken)
	}
}

func testCounter(m *metrics.Metrics, outcome string) float64 {
	c, err := m.MessagesTotal.GetMetricWithLabelValues(outcome)
	if err != nil {
		return -1
	}
	return counterValue(c)
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
