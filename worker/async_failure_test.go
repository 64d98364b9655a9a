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
)

// With the results stream gone, publishes fail: the worker holds the
// messages (InProgress) and retries the publishes itself, so the outage
// spends none of their deliveries. With max_deliver 2 and a 50 ms
// nak_delay, naking would have exhausted every message's deliveries within
// a fraction of the 3 s outage (the dead-letter path would have taken
// them); held, they are never redelivered and are scored once the stream
// is back. Nothing is lost, nothing is dead-lettered.
func TestAsyncHoldsWhileResultsStreamIsUnavailable(t *testing.T) {
	const ackWait = time.Second // heartbeats every 333 ms keep held messages
	r := newRig(t, func(t *ingest.Topology) {
		t.Consumer.NakDelay = 50 * time.Millisecond
		t.Consumer.MaxDeliver = 2
		t.Consumer.AckWait = ackWait
	})
	ctx := context.Background()
	if err := r.js.DeleteStream(ctx, "LOANS_SCORED"); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	const n = 20
	for i := range n {
		data, _ := application(rng)
		r.publish(fmt.Sprintf("u-%d", i), data, nil)
	}
	w := r.start(DefaultConfig())
	testkit.Eventually(t, 20*time.Second, "every message held", func() bool {
		return gaugeValue(w.metrics.HeldMessages) == n
	})
	outage := time.Now()
	testkit.Eventually(t, 30*time.Second, "three ack waits of outage", func() bool {
		if info := r.consumerInfo(); info.NumRedelivered != 0 || info.Delivered.Consumer != n {
			t.Fatalf("after %v of outage: %d redelivered, %d deliveries for %d messages",
				time.Since(outage), info.NumRedelivered, info.Delivered.Consumer, n)
		}
		return time.Since(outage) > 3*ackWait
	})
	if got := r.count("LOANS"); got != n {
		t.Fatalf("LOANS holds %d, want all %d while results cannot be stored", got, n)
	}
	// Retries keep going through the outage: at least two rounds each (a
	// round is 50 ms doubling to 400 ms, plus however long the failing
	// publish takes to report).
	retries := counterValue(w.metrics.PublishRetries)
	t.Logf("%v publish retries for %d held messages in %v of outage", retries, n, time.Since(outage).Round(time.Millisecond))
	if retries < 2*n {
		t.Errorf("%v publish retries, want at least %d", retries, 2*n)
	}
	if v := testDeliveries(w.metrics, metrics.ActionNak); v != 0 {
		t.Errorf("%v naks during a results outage, want 0", v)
	}
	// The operator brings the stream back (here: the scorer's own ingest.Setup).
	if _, err := ingest.Setup(ctx, r.js, r.topo, discardLog()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "all scored after recovery", func() bool {
		return r.count("LOANS_SCORED") == n && r.count("LOANS") == 0
	})
	if got := r.count("LOANS_DLQ"); got != 0 {
		t.Errorf("%d dead letters for a transient failure", got)
	}
	if v := gaugeValue(w.metrics.HeldMessages); v != 0 {
		t.Errorf("%v messages still counted as held", v)
	}
	if v := testCounter(w.metrics, metrics.OutcomeScored); v != n {
		t.Errorf("%v scored, want %d", v, n)
	}
}

// With the dead-letter stream gone, a poison message's error result is
// stored but its dead letter is not: only the dead letter is retried (the
// error result is stored once), and the message is termed only after its
// dead letter is stored. Valid applications meanwhile score as usual.
func TestAsyncHoldsPoisonWhileDeadLetterStreamIsUnavailable(t *testing.T) {
	r := newRig(t, func(t *ingest.Topology) {
		t.Consumer.NakDelay = 50 * time.Millisecond
		t.Consumer.MaxDeliver = 2
		t.Consumer.AckWait = time.Second
	})
	ctx := context.Background()
	if err := r.js.DeleteStream(ctx, "LOANS_DLQ"); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, 22))
	const good, bad = 10, 3
	for i := range bad {
		r.publish(fmt.Sprintf("bad-%d", i), []byte(`{"not json`), nil)
	}
	for i := range good {
		data, _ := application(rng)
		r.publish(fmt.Sprintf("good-%d", i), data, nil)
	}
	w := r.start(DefaultConfig())
	testkit.Eventually(t, 20*time.Second, "valid ones scored, poison held", func() bool {
		return r.count("LOANS_SCORED") == good+bad && gaugeValue(w.metrics.HeldMessages) == bad
	})
	testkit.Eventually(t, 20*time.Second, "retries", func() bool { return counterValue(w.metrics.PublishRetries) >= 3*bad })
	if got := r.count("LOANS"); got != bad {
		t.Fatalf("LOANS holds %d, want the %d poison messages until their dead letters are stored", got, bad)
	}
	if _, err := ingest.Setup(ctx, r.js, r.topo, discardLog()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "poison dead-lettered after recovery", func() bool {
		return r.count("LOANS_DLQ") == bad && r.count("LOANS") == 0
	})
	if got := r.count("LOANS_SCORED"); got != good+bad {
		t.Errorf("LOANS_SCORED holds %d, want %d: one result per message", got, good+bad)
	}
	if v := counterValue(w.metrics.DeadLettersTotal); v != bad {
		t.Errorf("%v dead letters counted, want %d", v, bad)
	}
	// Each message counted once, as what it turned out to be.
	if v := testCounter(w.metrics, metrics.OutcomeInvalid); v != bad {
		t.Errorf("%v invalid messages counted, want %d", v, bad)
	}
	if v := testDeliveries(w.metrics, metrics.ActionTerm); v != bad {
		t.Errorf("%v deliveries termed, want %d", v, bad)
	}
	if v := r.consumerInfo().NumRedelivered; v != 0 {
		t.Errorf("%d redelivered", v)
	}
}

// When batches cannot finish within the shutdown budget, Drain and Settle
// nak what is buffered or in flight: another worker gets those messages at
// once instead of after the one-minute ack wait.
func TestSettleNaksWhatIsNotDoneInTime(t *testing.T) {
	r := newRig(t, func(t *ingest.Topology) {
		t.Consumer.AckWait = time.Minute
		t.Stream.Duplicates = 5 * time.Minute // horizon 4 × 1m
		t.Consumer.PullMaxMessages = 50
	})
	rng := rand.New(rand.NewPCG(13, 14))
	const n = 40
	for i := range n {
		data, _ := application(rng)
		r.publish(fmt.Sprintf("s-%d", i), data, nil)
	}
	// A worker whose batcher never runs: every message it takes is stuck.
	b := NewBatcher(Config{MaxSize: 8, MaxWait: time.Millisecond, Queue: 4}, 1, nil)
	m := metrics.New(nil)
	a, _ := r.newAsync(b, m)
	hard, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(hard) }()
	testkit.Eventually(t, 10*time.Second, "messages taken", func() bool { return a.InFlight() >= 5 })

	// The handler is blocked on the full queue: the drain times out, the
	// blocked Submit gives up (the deadline is a hard stop for it), and
	// what is still in flight is nak'ed.
	ctx, stop := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer stop()
	if err := a.Stop(ctx); err == nil || !strings.Contains(err.Error(), "not done in time were nak'ed") {
		t.Errorf("Stop = %v, want an error counting the nak'ed messages", err)
	}
	if a.InFlight() != 0 {
		t.Errorf("%d still in flight after Stop", a.InFlight())
	}
	if err := <-runErr; err != nil {
		t.Errorf("Run: %v", err)
	}
	// Every message the worker took was nak'ed (JetStream counts a nak'ed
	// message as ack-pending until it is redelivered, so the proof is the
	// prompt redelivery below).
	testkit.Eventually(t, 5*time.Second, "every delivered message nak'ed", func() bool {
		return testDeliveries(m, metrics.ActionNak) == float64(r.consumerInfo().Delivered.Consumer)
	})

	// A new worker scores everything now, not a minute later.
	r.start(DefaultConfig())
	testkit.Eventually(t, 15*time.Second, "remainder scored at once", func() bool {
		return r.count("LOANS_SCORED") == n && r.count("LOANS") == 0
	})
}

// A message held longer than the ack wait (here: its batch cannot start)
// gets InProgress heartbeats, so JetStream does not redeliver it meanwhile;
// once scoring resumes it is answered exactly once.
func TestSlowBatchesSendInProgress(t *testing.T) {
	const ackWait = time.Second // heartbeats every 333ms: room for a loaded machine
	r := newRig(t, func(t *ingest.Topology) {
		t.Consumer.AckWait = ackWait
		t.Consumer.MaxDeliver = 3
	})
	rng := rand.New(rand.NewPCG(15, 16))
	const n = 5
	for i := range n {
		data, _ := application(rng)
		r.publish(fmt.Sprintf("slow-%d", i), data, nil)
	}
	b := NewBatcher(DefaultConfig(), 1, nil) // not running yet
	m := metrics.New(nil)
	a, _ := r.newAsync(b, m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	asyncErr := make(chan error, 1)
	go func() { asyncErr <- a.Run(ctx) }()
	testkit.Eventually(t, 10*time.Second, "all taken", func() bool { return a.InFlight() == n })
	// Hold them for three ack waits: without InProgress each would have
	// been redelivered (and, with max_deliver 3, dead-lettered).
	held := time.Now()
	testkit.Eventually(t, 30*time.Second, "held three ack waits", func() bool {
		if r.consumerInfo().NumRedelivered != 0 {
			t.Fatalf("redelivered while in progress after %v", time.Since(held))
		}
		return time.Since(held) > 3*ackWait
	})
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(ctx) }()
	testkit.Eventually(t, 10*time.Second, "scored once", func() bool { return r.count("LOANS_SCORED") == n && r.count("LOANS") == 0 })
	if got := r.count("LOANS_DLQ"); got != 0 {
		t.Errorf("%d dead letters", got)
	}
	if v := counterValue(m.RedeliveriesTotal); v != 0 {
		t.Errorf("%v redeliveries", v)
	}
	sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := a.Stop(sctx); err != nil {
		t.Error(err)
	}
	if err := <-asyncErr; err != nil {
		t.Error(err)
	}
	if err := b.Stop(sctx); err != nil {
		t.Error(err)
	}
	<-runErr
}

// Two workers share the durable consumer (scale-out): every application is
// scored exactly once between them.
func TestTwoWorkersShareTheConsumer(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(t *ingest.Topology) { t.Consumer.PullMaxMessages = 8 })
	w1 := r.start(DefaultConfig())
	w2 := r.start(DefaultConfig())
	rng := rand.New(rand.NewPCG(17, 18))
	const n = 400
	for i := range n {
		data, _ := application(rng)
		r.publish(fmt.Sprintf("sc-%d", i), data, nil)
	}
	testkit.Eventually(t, 30*time.Second, "all scored", func() bool { return r.count("LOANS_SCORED") >= n && r.count("LOANS") == 0 })
	ids := map[string]int{}
	for _, m := range r.stored("LOANS_SCORED") {
		ids[decodeResult(t, m.Data).ID]++
	}
	for id, k := range ids {
		if k != 1 {
			t.Errorf("%s stored %d times", id, k)
		}
	}
	if len(ids) != n {
		t.Errorf("%d distinct results, want %d", len(ids), n)
	}
	a, b := testCounter(w1.metrics, "scored"), testCounter(w2.metrics, "scored")
	if a+b != n {
		t.Errorf("workers scored %v + %v, want %d in total", a, b, n)
	}
	t.Logf("worker 1 scored %v, worker 2 scored %v", a, b)
}

// testDeliveries reads scorer_deliveries_total for action, -1 when absent.
func testDeliveries(m *metrics.Metrics, action string) float64 {
	c, err := m.DeliveriesTotal.GetMetricWithLabelValues(action)
	if err != nil {
		return -1
	}
	return counterValue(c)
}
