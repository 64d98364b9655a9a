package worker

import (
	"bytes"
	"container/heap"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// This file is how the async path holds a message whose result could not
// be stored for now (see Async): its failed parts are published again
// when due, without spending deliveries, and InProgress keeps JetStream
// from redelivering it meanwhile.

// hold keeps d (the heartbeat sends InProgress for it) and publishes parts
// again after retryDelay. JetStream counts a NakWithDelay as a delivery, so
// naking on a results outage would dead-letter valid applications after
// max_deliver × nak_delay; holding spends nothing, and the held messages
// fill MaxAckPending, which stops consumption until the path is back.
// Past the drain deadline or at a hard stop d is nak'ed instead, for
// another worker.
func (a *Async) hold(d *delivery, parts []*nats.Msg, cause error) {
	if d.settled.Load() {
		return // Stop gave up on it and nak'ed it meanwhile
	}
	if d.held.CompareAndSwap(false, true) {
		a.p.Metrics.HeldMessages.Set(float64(a.held.Add(1)))
	}
	delay := retryDelay(a.p.Config.NakDelay, d.attempts)
	a.outage.Fail(a.p.Log, cause, "held", a.held.Load(), "retry_after", delay.Round(time.Millisecond))
	a.p.Log.Debug("publish failed; held for a retry", "id", d.id, "attempt", d.attempts+1, "error", cause)
	if a.ctx.Err() != nil {
		a.settle(d, actNakNow, cause)
		return
	}
	d.attempts++
	a.retries.add(retryRound{d: d, parts: parts, due: time.Now().Add(delay)})
}

// republish is one retry round of hold.
func (a *Async) republish(r retryRound) {
	d := r.d
	if d.settled.Load() {
		return
	}
	if a.ctx.Err() != nil {
		a.settle(d, actNakNow, errors.New("stopping with the publish still failing"))
		return
	}
	a.p.Metrics.PublishRetries.Add(float64(len(r.parts)))
	d.remaining.Store(int32(len(r.parts)))
	for _, part := range r.parts {
		a.send(d, part)
	}
}

// retryDelay is the wait before retry round n+1 (n from 0): nak_delay,
// doubled per round up to 8 × nak_delay (at least 50 ms), with ±20% jitter
// so thousands of held messages do not retry in lockstep (and some message
// retries soon after the path is back, which releases the others).
func retryDelay(nakDelay time.Duration, n int) time.Duration {
	d := max(nakDelay, 50*time.Millisecond) << min(n, 3)
	return d + time.Duration(rand.Int64N(int64(d)*2/5+1)) - d/5
}

// cloneMsg copies m's subject, data and headers.
func cloneMsg(m *nats.Msg) *nats.Msg {
	c := &nats.Msg{Subject: m.Subject, Data: bytes.Clone(m.Data)}
	if m.Header != nil {
		c.Header = make(nats.Header, len(m.Header))
		for k, v := range m.Header {
			c.Header[k] = slices.Clone(v)
		}
	}
	return c
}

// retryRound is a held message's next attempt.
type retryRound struct {
	d     *delivery
	parts []*nats.Msg
	due   time.Time
}

// retryQueue holds the retry rounds of held messages by due time. Its run
// loop sleeps on a timer armed for the earliest round (no polling), wakes
// when an earlier round is added, and runs every round at once when the
// results path has recovered.
type retryQueue struct {
	mu     sync.Mutex
	rounds roundHeap
	wake   chan struct{} // an earlier round was added (buffered, 1)
	all    chan struct{} // recovered: run every round now (buffered, 1)
}

func newRetryQueue() *retryQueue {
	return &retryQueue{wake: make(chan struct{}, 1), all: make(chan struct{}, 1)}
}

// add queues r.
func (q *retryQueue) add(r retryRound) {
	q.mu.Lock()
	heap.Push(&q.rounds, r)
	first := q.rounds[0].d == r.d
	q.mu.Unlock()
	if first {
		signal(q.wake)
	}
}

// recovered makes run take every round now: the results path is back,
// and the held messages need not wait out their backoff.
func (q *retryQueue) recovered() { signal(q.all) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// run hands every round to retry when it is due (or at once after
// recovered) until quit is closed.
func (q *retryQueue) run(quit <-chan struct{}, retry func(retryRound)) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []retryRound
	for {
		q.mu.Lock()
		if len(q.rounds) > 0 {
			timer.Reset(time.Until(q.rounds[0].due))
		} else {
			timer.Stop()
		}
		q.mu.Unlock()
		all := false
		select {
		case <-quit:
			return
		case <-q.wake:
			continue
		case <-timer.C:
		case <-q.all:
			all = true
		}
		now := time.Now()
		q.mu.Lock()
		for len(q.rounds) > 0 && (all || !now.Before(q.rounds[0].due)) {
			due = append(due, heap.Pop(&q.rounds).(retryRound))
		}
		q.mu.Unlock()
		for i, r := range due {
			retry(r)
			due[i] = retryRound{}
		}
		due = due[:0]
	}
}

// roundHeap orders retry rounds by due time (container/heap).
type roundHeap []retryRound

func (h roundHeap) Len() int           { return len(h) }
func (h roundHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h roundHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *roundHeap) Push(x any)        { *h = append(*h, x.(retryRound)) }
func (h *roundHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = retryRound{}
	*h = old[:len(old)-1]
	return r
}

// heartbeat sends InProgress for messages held longer than a third of the
// ack wait, so a slow batch or a stalled publish is not redelivered to
// another worker meanwhile.
func (a *Async) heartbeat() {
	every := a.p.Config.ProgressEvery()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-a.quit:
			return
		case now := <-tick.C:
			for _, d := range a.snapshot() {
				if now.Sub(d.Received) >= every && !d.settled.Load() {
					_ = d.InProgress()
				}
			}
		}
	}
}
