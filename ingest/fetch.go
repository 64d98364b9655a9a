package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/internal/ratelog"
)

// Delivery is one message fetched from the durable consumer: its metadata
// and payload, and its own settle functions, like nats.go's jetstream.Msg
// and benthos' AckFn. Whoever handles it settles it exactly once (Ack,
// Nak, NakWithDelay or Term); InProgress may come any number of times
// before, to hold off redelivery.
type Delivery struct {
	msg jetstream.Msg
	// Stream and Seq place the message in the input stream.
	Stream string
	Seq    uint64
	// Deliveries counts the deliveries of the message, this one included.
	Deliveries uint64
	// Subject, Header and Data are the message's.
	Subject string
	Header  nats.Header
	Data    []byte
	// Received is when the fetch handed the message over.
	Received time.Time
}

// Ack acknowledges the message: JetStream will not deliver it again. It
// does not wait for the server's confirmation.
func (d *Delivery) Ack() error { return d.msg.Ack() }

// Nak asks for a redelivery now (to another worker, usually).
func (d *Delivery) Nak() error { return d.msg.Nak() }

// NakWithDelay asks for a redelivery after delay.
func (d *Delivery) NakWithDelay(delay time.Duration) error { return d.msg.NakWithDelay(delay) }

// Term tells JetStream never to deliver the message again.
func (d *Delivery) Term() error { return d.msg.Term() }

// InProgress resets the message's ack wait: it is still being worked on.
func (d *Delivery) InProgress() error { return d.msg.InProgress() }

// Fetcher pulls the durable consumer in bounded fetches and hands each
// message to a handler as a Delivery. It uses Fetch, not Consume: a
// Consume subscription is dropped at Drain while the server may still be
// delivering to it, and what it delivered in that window stays
// unacknowledged until the ack wait (nats.go#898). A fetch's subscription
// lives until the server has ended the request (its batch delivered, or a
// timeout status at fetchWait), so every delivered message is handled, or
// nak'ed past the drain deadline.
//
// Lifecycle: Run once; Drain stops it (Run then returns nil). Run returns
// an error of its own only when the consumer is gone for good (deleted):
// fetching again cannot help, and a restarted process recreates it.
type Fetcher struct {
	cons     jetstream.Consumer
	name     string // the consumer's, for logs and errors
	batch    int    // messages per fetch
	maxBytes int    // bytes per fetch
	m        *metrics.Metrics
	log      *slog.Logger
	fetchLog *ratelog.Outage
	nak      func() // counts a delivery nak'ed without handling

	draining chan struct{} // closed by Drain: no new fetch starts
	fetching sync.WaitGroup
	done     chan struct{} // closed once every fetch loop has returned
	shed     atomic.Bool   // past the drain deadline: nak without handling
	started  atomic.Bool
	failed   chan error // a fetch loop's failure for good (buffered)
}

// fetchers is how many fetch requests each worker keeps going: while one
// fetch's messages are handled, the other's are on their way.
const fetchers = 2

// fetchBytesMin is the byte budget of one fetch with ordinary limits.
const fetchBytesMin = 4 << 20

// fetchWait is how long one fetch waits for messages on an idle stream, and
// so how long Drain can wait for the fetches to end when nothing arrives.
const fetchWait = time.Second

// shedGrace bounds how long Drain waits for the fetches to end after its
// deadline: a fetch ends by fetchWait on the server, and one second later
// on the client at the latest.
const shedGrace = fetchWait + time.Second

// NewFetcher returns a fetcher of cons (the durable consumer Setup made or
// joined) configured by cfg: cfg.PullMaxMessages bounds the messages asked
// for at once, over the fetchers. maxPayload is the server's largest
// message (nc.MaxPayload()); every fetch may bring at least two of them.
// m receives redeliveries and the naks of a shed (nil: unregistered
// collectors; the consumer's own figures come from its info, see
// metrics.Consumer); log receives fetch failures (rate
// limited).
func NewFetcher(cons jetstream.Consumer, cfg ConsumerConfig, maxPayload int64, m *metrics.Metrics, log *slog.Logger) *Fetcher {
	if m == nil {
		m = metrics.New(nil)
	}
	if log == nil {
		log = slog.Default()
	}
	if maxPayload <= 0 {
		maxPayload = 1 << 20
	}
	nak := m.DeliveriesTotal.WithLabelValues(metrics.ActionNak)
	return &Fetcher{
		cons: cons, name: cfg.Name,
		batch: max(cfg.PullMaxMessages/fetchers, 1),
		// At least twice the largest message, so every message fits a
		// fetch, but a backlog of large messages (up to max payload,
		// headers up to 64 KiB) cannot fill the worker's memory.
		maxBytes: int(max(fetchBytesMin, 2*maxPayload+128<<10)),
		m:        m, log: log,
		fetchLog: ratelog.NewOutage("fetch", "retrying"),
		nak:      nak.Inc,
		draining: make(chan struct{}),
		done:     make(chan struct{}),
		failed:   make(chan error, fetchers),
	}
}

// Run fetches until Drain, handing each message to handle on the fetching
// goroutine (so a handler that waits holds up that fetch: backpressure).
// It returns nil once Drain has ended every fetch, or the first failure
// that no retry can mend (the consumer deleted), after stopping the other
// fetches. Call Run once.
func (f *Fetcher) Run(handle func(Delivery)) error {
	if !f.started.CompareAndSwap(false, true) {
		return errors.New("ingest: Fetcher.Run called twice")
	}
	for range fetchers {
		f.fetching.Go(func() {
			if err := f.loop(handle); err != nil {
				f.failed <- err
				f.stopFetching()
			}
		})
	}
	f.fetching.Wait()
	close(f.done)
	select {
	case err := <-f.failed:
		return err
	default:
		return nil
	}
}

// loop is one fetch loop.
func (f *Fetcher) loop(handle func(Delivery)) error {
	wait := 100 * time.Millisecond
	for {
		select {
		case <-f.draining:
			return nil
		default:
		}
		mb, err := f.cons.Fetch(f.batch, jetstream.FetchMaxWait(fetchWait), jetstream.FetchMaxBytes(f.maxBytes))
		if err == nil {
			for msg := range mb.Messages() {
				f.deliver(msg, handle)
			}
			err = mb.Error()
		}
		switch {
		case err == nil:
			f.fetchLog.OK(f.log)
			wait = 100 * time.Millisecond
			continue
		case errors.Is(err, jetstream.ErrConsumerDeleted):
			return fmt.Errorf("fetch from consumer %s: %w", f.name, err)
		}
		f.fetchLog.Fail(f.log, err, "consumer", f.name, "retry_after", wait)
		select {
		case <-f.draining:
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// deliver turns msg into a Delivery for handle, or naks it at once past
// the drain deadline (a message dropped would only come back after the
// ack wait).
func (f *Fetcher) deliver(msg jetstream.Msg, handle func(Delivery)) {
	if f.shed.Load() {
		_ = msg.Nak()
		f.nak()
		return
	}
	now := time.Now()
	meta, err := msg.Metadata()
	if err != nil {
		f.log.Error("message without JetStream metadata: terminated", "subject", ratelog.Clip(msg.Subject()), "error", err)
		_ = msg.Term()
		return
	}
	if meta.NumDelivered > 1 {
		f.m.RedeliveriesTotal.Inc()
	}
	handle(Delivery{msg: msg, Stream: meta.Stream, Seq: meta.Sequence.Stream, Deliveries: meta.NumDelivered,
		Subject: msg.Subject(), Header: msg.Headers(), Data: msg.Data(), Received: now})
}

func (f *Fetcher) stopFetching() {
	select {
	case <-f.draining:
	default:
		close(f.draining)
	}
}

// Drain stops fetching and returns once every fetch has ended and every
// message it delivered has been handed to the handler. When ctx ends
// first, the messages still arriving are nak'ed without reaching the
// handler, and Drain returns an error once the fetches have ended, or
// after shedGrace more.
func (f *Fetcher) Drain(ctx context.Context) error {
	f.stopFetching()
	if !f.started.Load() {
		return nil
	}
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
	}
	f.shed.Store(true)
	select {
	case <-f.done:
	case <-time.After(shedGrace):
	}
	return fmt.Errorf("drain consumer %s: delivered messages nak'ed: %w", f.name, ctx.Err())
}
