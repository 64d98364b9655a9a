package worker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/sink"
)

// A producer publishes Nats-Msg-Id "LOANS:2" before an id-less message
// lands at sequence 2, whose made-up id is LOANS:2. Before ids were
// checked, the attacker's score was stored as LOANS:2 and the victim's
// result was dropped as a duplicate. Now the attacker's id is refused
// (error result under its own made-up id LOANS:1) and the victim scores.
func TestAsyncMadeUpIDsCannotBeTaken(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	rng := rand.New(rand.NewPCG(21, 22))
	attacker, _ := application(rng)
	victim, victimRow := application(rng)
	r.publish("LOANS:2", attacker, nil) // sequence 1
	r.publish("", victim, nil)          // sequence 2: id LOANS:2
	w := r.start(DefaultConfig())
	testkit.Eventually(t, 20*time.Second, "both answered", func() bool {
		return r.count("LOANS_SCORED") == 2 && r.count("LOANS") == 0
	})
	results := map[string]resultBody{}
	for _, m := range r.stored("LOANS_SCORED") {
		b := decodeResult(t, m.Data)
		results[b.ID] = b
		if m.Subject != sink.IDSubject("loans.scored", b.ID) {
			t.Errorf("result %s stored on %s", b.ID, m.Subject)
		}
	}
	v, ok := results["LOANS:2"]
	if want := expected(t, r.model, [][]float64{victimRow})[0]; !ok || v.DefaultProba == nil || *v.DefaultProba != want {
		t.Errorf("the id-less message's result LOANS:2 = %+v, want its own score %v", v, want)
	}
	a, ok := results["LOANS:1"]
	if !ok || a.Error == nil || a.Error.Fields[ingest.HeaderMsgID] != ingest.FieldReserved {
		t.Errorf("the message that claimed LOANS:2: result LOANS:1 = %+v, want an error naming %s: %s", a, ingest.HeaderMsgID, ingest.FieldReserved)
	}
	dl := r.stored("LOANS_DLQ")
	if len(dl) != 1 || dl[0].Header.Get("Nats-Msg-Id") != "dlq:LOANS:1" || dl[0].Header.Get(sink.HeaderOriginalMsgID) != "LOANS:2" {
		t.Errorf("dead letters %d, want one for LOANS:1 naming the refused id LOANS:2", len(dl))
	}
	if v := testCounter(w.metrics, metrics.OutcomeScored); v != 1 {
		t.Errorf("%v scored, want 1", v)
	}
}

// Messages whose headers no result could carry: a 65,000-byte Nats-Msg-Id
// (refused: too long) and a short id with a 65,000-byte tracestate (copied
// cut to its bound). Before, their results could never be stored
// (JetStream caps headers at 64 KiB), they were held and retried for ever,
// and enough of them stopped all scoring. Now each gets its answer at once,
// nothing is held, and the valid applications mixed in are scored.
func TestAsyncHugeHeadersAreAnsweredNotHeld(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	rng := rand.New(rand.NewPCG(23, 24))
	const n = 60
	longID := strings.Repeat("i", 65000)
	hugeState := strings.Repeat("s", 65000)
	good := map[string]float64{}
	for i := range n {
		data, row := application(rng)
		switch i % 3 {
		case 0:
			r.publish(longID+fmt.Sprint(i), data, nil)
		case 1:
			r.publish(fmt.Sprintf("trace-%d", i), data, map[string]string{sink.HeaderTracestate: hugeState})
			good[fmt.Sprintf("trace-%d", i)] = expected(t, r.model, [][]float64{row})[0]
		default:
			r.publish(fmt.Sprintf("ok-%d", i), data, nil)
			good[fmt.Sprintf("ok-%d", i)] = expected(t, r.model, [][]float64{row})[0]
		}
	}
	w := r.start(DefaultConfig())
	testkit.Eventually(t, 30*time.Second, "every message answered", func() bool {
		return r.count("LOANS_SCORED") == n && r.count("LOANS") == 0
	})
	refused := 0
	for _, m := range r.stored("LOANS_SCORED") {
		b := decodeResult(t, m.Data)
		if want, ok := good[b.ID]; ok {
			if b.DefaultProba == nil || *b.DefaultProba != want {
				t.Errorf("%s: %+v, want %v", b.ID, b, want)
			}
			if strings.HasPrefix(b.ID, "trace-") && (len(m.Header.Get(sink.HeaderTracestate)) != 1024 || m.Header.Get(sink.HeaderTruncated) != "tracestate=65000") {
				t.Errorf("%s: tracestate of %d bytes, Header-Truncated %q", b.ID, len(m.Header.Get(sink.HeaderTracestate)), m.Header.Get(sink.HeaderTruncated))
			}
			continue
		}
		if !strings.HasPrefix(b.ID, "LOANS:") || b.Error == nil || b.Error.Fields[ingest.HeaderMsgID] != ingest.FieldTooLong {
			t.Errorf("unexpected result %+v", b)
		}
		refused++
	}
	if refused != n/3 {
		t.Errorf("%d too-long ids answered, want %d", refused, n/3)
	}
	for _, d := range r.stored("LOANS_DLQ") {
		if got := len(d.Header.Get(sink.HeaderOriginalMsgID)); got != 1024 {
			t.Errorf("dead letter %s: Original-Msg-Id of %d bytes, want it cut to 1024", d.Header.Get("Nats-Msg-Id"), got)
		}
	}
	if got := r.count("LOANS_DLQ"); got != n/3 {
		t.Errorf("%d dead letters, want %d", got, n/3)
	}
	if v := counterValue(w.metrics.PublishRetries); v != 0 {
		t.Errorf("%v publish retries: nothing here is transient", v)
	}
	if info := r.consumerInfo(); info.NumRedelivered != 0 {
		t.Errorf("%d redelivered", info.NumRedelivered)
	}
}

// A results stream whose max_msg_size no result fits: every publish is
// refused for good. Before, every message was held and retried for ever.
// Now the scored result is replaced by an error result (refused too) and a
// dead letter with code unstorable, and the message is termed: nothing is
// held, nothing is redelivered, and the warning is rate-limited.
func TestAsyncUnstorableResultsAreDeadLettered(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	ctx := context.Background()
	s, err := r.js.Stream(ctx, "LOANS_SCORED")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxMsgSize = 64
	if _, err := r.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(25, 26))
	const n = 40
	for i := range n {
		data, _ := application(rng)
		r.publish(fmt.Sprintf("u-%d", i), data, nil)
	}
	w := r.start(DefaultConfig())
	testkit.Eventually(t, 30*time.Second, "every message dead-lettered", func() bool {
		return r.count("LOANS_DLQ") == n && r.count("LOANS") == 0
	})
	for _, d := range r.stored("LOANS_DLQ") {
		if d.Header.Get(sink.HeaderErrorCode) != ingest.CodeUnstorable || !strings.Contains(d.Header.Get(sink.HeaderError), "could not be stored") {
			t.Errorf("dead letter %s: code %q error %q", d.Header.Get("Nats-Msg-Id"), d.Header.Get(sink.HeaderErrorCode), d.Header.Get(sink.HeaderError))
		}
	}
	if got := r.count("LOANS_SCORED"); got != 0 {
		t.Errorf("%d results stored in a stream that takes none", got)
	}
	if v := counterValue(w.metrics.UnstorableTotal); v != 2*n {
		t.Errorf("%v unstorable publishes, want %d (the result, then the error result)", v, 2*n)
	}
	if v := gaugeValue(w.metrics.HeldMessages); v != 0 {
		t.Errorf("%v held", v)
	}
	if info := r.consumerInfo(); info.NumRedelivered != 0 || info.NumAckPending != 0 {
		t.Errorf("consumer: %d redelivered, %d ack pending", info.NumRedelivered, info.NumAckPending)
	}
}

// Results an earlier run stored (its acks lost: a crash, a long outage)
// meet their inputs again after the dedup window has passed. Before,
// Nats-Msg-Id no longer protected them and each got a second result; now
// the inputs are acked and the first results stay the only ones.
func TestAsyncRedeliveryAfterTheDedupWindowStoresNoSecondResult(t *testing.T) {
	t.Parallel()
	const window = 200 * time.Millisecond
	r := newRig(t, func(t *ingest.Topology) { t.Stream.Duplicates = window })
	rng := rand.New(rand.NewPCG(27, 28))
	const n = 30
	nc := testkit.Connect(t, r.srv)
	pub, err := sink.NewPublisher(nc, DefaultPublisherConfigFor(r.topo), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		id := fmt.Sprintf("again-%d", i)
		data, _ := application(rng)
		r.publish(id, data, nil)
		first := pub.ResultMsg([]byte(`{"id":"`+id+`","first":true}`), sink.Meta{ID: id, Model: r.model.Version}, time.Now())
		if err := pub.Store(ctx, first); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * window) // the dedup window of LOANS_SCORED has passed
	w := r.start(DefaultConfig())
	testkit.Eventually(t, 20*time.Second, "inputs acked", func() bool { return r.count("LOANS") == 0 })
	results := r.stored("LOANS_SCORED")
	if len(results) != n {
		t.Fatalf("%d results stored for %d ids", len(results), n)
	}
	for _, m := range results {
		if !strings.Contains(string(m.Data), `"first":true`) {
			t.Errorf("%s: %s replaced the first result", m.Subject, m.Data)
		}
	}
	if v := testCounter(w.metrics, metrics.OutcomeScored); v != n {
		t.Errorf("%v acked as scored, want %d", v, n)
	}
}
