package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/internal/natstest"
	"github.com/loan-scorer/loan-scorer/sink"
	"github.com/loan-scorer/loan-scorer/worker"
)

// With the results stream gone, publishes fail: messages are nak'ed with
// consumer.nak_delay and stay in LOANS; once the stream is back they are
// scored. Nothing is lost, nothing is dead-lettered.
func TestAsyncNaksWhileResultsStreamIsUnavailable(t *testing.T) {
	r := newRig(t, func(t *Topology) {
		t.Consumer.NakDelay = 50 * time.Millisecond
		t.Consumer.MaxDeliver = 100
		t.Consumer.AckWait = 5 * time.Second
		t.Stream.Duplicates = 10 * time.Minute // horizon 99 × 5s
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
	w := r.start(worker.DefaultConfig())
	natstest.Eventually(t, 20*time.Second, "naks counted", func() bool { return testCounter(w.metrics, OutcomeNak) >= n })
	if got := r.count("LOANS"); got != n {
		t.Fatalf("LOANS holds %d, want all %d while results cannot be stored", got, n)
	}
	// The operator brings the stream back (here: the scorer's own Setup).
	if _, err := Setup(ctx, r.js, r.topo, discardLog()); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 20*time.Second, "all scored after recovery", func() bool {
		return r.count("LOANS_SCORED") == n && r.count("LOANS") == 0
	})
	if got := r.count("LOANS_DLQ"); got != 0 {
		t.Errorf("%d dead letters for a transient failure", got)
	}
}

// When batches cannot finish within the shutdown budget, Drain and Settle
// nak what is buffered or in flight: another worker gets those messages at
// once instead of after the one-minute ack wait.
func TestSettleNaksWhatIsNotDoneInTime(t *testing.T) {
	r := newRig(t, func(t *Topology) {
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
	nc := natstest.Connect(t, r.srv)
	js, _ := jetstream.New(nc)
	cons, err := js.Consumer(context.Background(), "LOANS", "scorer")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sink.NewPublisher(nc, DefaultPublisherConfigFor(r.topo))
	if err != nil {
		t.Fatal(err)
	}
	b := worker.NewBatcher(worker.Config{MaxSize: 8, MaxWait: time.Millisecond, Queue: 4}, 1, nil)
	m := metrics.New(nil)
	dec := NewDecoderCache(DefaultSchemaConfig(), r.limits)
	hard, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := NewAsync(AsyncParams{Consumer: cons, Config: r.topo.Consumer, Reply: r.reply, Models: worker.NewHolder(r.model),
		Decoders: dec.Get, Batcher: b, Publisher: pub, Metrics: m, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(hard); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 10*time.Second, "messages taken", func() bool { return a.InFlight() >= 5 })

	ctx, stop := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer stop()
	_ = a.Drain(ctx) // the handler is blocked on the full queue: this times out
	cancel()         // hard stop: the blocked Submit gives up
	if err := a.Settle(ctx); err == nil {
		t.Error("Settle = nil, want an error counting the nak'ed messages")
	}
	if a.InFlight() != 0 {
		t.Errorf("%d still in flight after Settle", a.InFlight())
	}
	// Every message the worker took was nak'ed (JetStream counts a nak'ed
	// message as ack-pending until it is redelivered, so the proof is the
	// prompt redelivery below).
	natstest.Eventually(t, 5*time.Second, "every delivered message nak'ed", func() bool {
		return testCounter(m, OutcomeNak) == float64(r.consumerInfo().Delivered.Consumer)
	})

	// A new worker scores everything now, not a minute later.
	r.start(worker.DefaultConfig())
	natstest.Eventually(t, 15*time.Second, "remainder scored at once", func() bool {
		return r.count("LOANS_SCORED") == n && r.count("LOANS") == 0
	})
}

// A message held longer than the ack wait (here: its batch cannot start)
// gets InProgress heartbeats, so JetStream does not redeliver it meanwhile;
// once scoring resumes it is answered exactly once.
func TestSlowBatchesSendInProgress(t *testing.T) {
	const ackWait = time.Second // heartbeats every 333ms: room for a loaded machine
	r := newRig(t, func(t *Topology) {
		t.Consumer.AckWait = ackWait
		t.Consumer.MaxDeliver = 3
	})
	rng := rand.New(rand.NewPCG(15, 16))
	const n = 5
	for i := range n {
		data, _ := application(rng)
		r.publish(fmt.Sprintf("slow-%d", i), data, nil)
	}
	nc := natstest.Connect(t, r.srv)
	js, _ := jetstream.New(nc)
	cons, err := js.Consumer(context.Background(), "LOANS", "scorer")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sink.NewPublisher(nc, DefaultPublisherConfigFor(r.topo))
	if err != nil {
		t.Fatal(err)
	}
	b := worker.NewBatcher(worker.DefaultConfig(), 1, nil) // not running yet
	m := metrics.New(nil)
	dec := NewDecoderCache(DefaultSchemaConfig(), r.limits)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := NewAsync(AsyncParams{Consumer: cons, Config: r.topo.Consumer, Reply: r.reply, Models: worker.NewHolder(r.model),
		Decoders: dec.Get, Batcher: b, Publisher: pub, Metrics: m, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 10*time.Second, "all taken", func() bool { return a.InFlight() == n })
	// Hold them for three ack waits: without InProgress each would have
	// been redelivered (and, with max_deliver 3, dead-lettered).
	held := time.Now()
	natstest.Eventually(t, 30*time.Second, "held three ack waits", func() bool {
		if r.consumerInfo().NumRedelivered != 0 {
			t.Fatalf("redelivered while in progress after %v", time.Since(held))
		}
		return time.Since(held) > 3*ackWait
	})
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(ctx) }()
	natstest.Eventually(t, 10*time.Second, "scored once", func() bool { return r.count("LOANS_SCORED") == n && r.count("LOANS") == 0 })
	if got := r.count("LOANS_DLQ"); got != 0 {
		t.Errorf("%d dead letters", got)
	}
	if v := testCounter(m, OutcomeRedelivered); v != 0 {
		t.Errorf("%v redeliveries", v)
	}
	sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = a.Drain(sctx)
	b.Close()
	<-runErr
	if err := a.Settle(sctx); err != nil {
		t.Error(err)
	}
}

// Two workers share the durable consumer (scale-out): every application is
// scored exactly once between them.
func TestTwoWorkersShareTheConsumer(t *testing.T) {
	r := newRig(t, func(t *Topology) { t.Consumer.PullMaxMessages = 8 })
	w1 := r.start(worker.DefaultConfig())
	w2 := r.start(worker.DefaultConfig())
	rng := rand.New(rand.NewPCG(17, 18))
	const n = 400
	for i := range n {
		data, _ := application(rng)
		r.publish(fmt.Sprintf("sc-%d", i), data, nil)
	}
	natstest.Eventually(t, 30*time.Second, "all scored", func() bool { return r.count("LOANS_SCORED") >= n && r.count("LOANS") == 0 })
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
