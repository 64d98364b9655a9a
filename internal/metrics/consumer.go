package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ConsumerState is what JetStream says about a durable consumer.
type ConsumerState struct {
	// Pending is the number of messages not yet delivered (num_pending).
	Pending uint64
	// AckPending is the number delivered and not yet acknowledged.
	AckPending int
	// Redelivered is the number of unacknowledged messages delivered more
	// than once.
	Redelivered int
	// Oldest is when the first message after the consumer's ack floor was
	// stored: the oldest message not yet acknowledged. Zero when none is
	// pending or waiting for its ack.
	Oldest time.Time
}

// ConsumerSource asks JetStream for a consumer's state (the wiring's
// jetstream.Consumer.Info, and the stream's first message after the ack
// floor).
type ConsumerSource func(ctx context.Context) (ConsumerState, error)

// Consumer timing: the background refresh, the least time between two
// refreshes that a scrape asks for, how long one may take, and the age
// past which a state is too old to report.
const (
	consumerEvery    = 5 * time.Second
	consumerMinEvery = time.Second
	consumerTimeout  = 2 * time.Second
	consumerStale    = 3 * consumerEvery
)

// Consumer reports a durable consumer's figures from the consumer itself,
// never from message metadata (which goes stale the moment traffic stops):
// scorer_consumer_pending_messages, _ack_pending_messages,
// _redelivered_messages and scorer_consumer_oldest_unacked_age_seconds,
// labelled with the stream and the consumer. The state is refreshed every
// 5 s in the background (Run) and on demand by each scrape (at most once a
// second, waiting at most 2 s); a state older than 15 s (JetStream
// unreachable) is not reported at all, so a stale figure never passes for
// a current one. Every scorer process reports the same shared consumer:
// aggregate with max, not sum.
//
// With a lag name (the Parquet sink's scorer_sink_lag_messages), it also
// reports pending plus ack pending under that name: results not yet in a
// committed file.
type Consumer struct {
	src      ConsumerSource
	now      func() time.Time
	pending  *prometheus.Desc
	ackPend  *prometheus.Desc
	redeliv  *prometheus.Desc
	oldest   *prometheus.Desc
	lag      *prometheus.Desc // nil without a lag name
	refreshM sync.Mutex       // one refresh at a time

	mu    sync.Mutex
	state ConsumerState
	at    time.Time // of the last successful refresh
	tried time.Time // of the last refresh, successful or not
}

// NewConsumer returns the collector of the consumer name on stream, read
// through src. lagName, when set, names the extra lag gauge.
func NewConsumer(stream, name string, src ConsumerSource, lagName string) *Consumer {
	labels := prometheus.Labels{"stream": stream, "consumer": name}
	c := &Consumer{src: src, now: time.Now,
		pending: prometheus.NewDesc("scorer_consumer_pending_messages",
			"Messages of the stream not yet delivered to the consumer (from the consumer's info).", nil, labels),
		ackPend: prometheus.NewDesc("scorer_consumer_ack_pending_messages",
			"Messages delivered to the consumer and not yet acknowledged (from the consumer's info).", nil, labels),
		redeliv: prometheus.NewDesc("scorer_consumer_redelivered_messages",
			"Unacknowledged messages delivered more than once (from the consumer's info).", nil, labels),
		oldest: prometheus.NewDesc("scorer_consumer_oldest_unacked_age_seconds",
			"Age of the first message after the consumer's ack floor (0 when nothing waits).", nil, labels),
	}
	if lagName != "" {
		c.lag = prometheus.NewDesc(lagName, "Messages the consumer has not acknowledged yet: pending plus ack pending.", nil, labels)
	}
	return c
}

// Describe is prometheus.Collector's.
func (c *Consumer) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPend
	ch <- c.redeliv
	ch <- c.oldest
	if c.lag != nil {
		ch <- c.lag
	}
}

// Collect refreshes the state unless that was done less than a second ago,
// then reports it, or nothing when the last good state is too old.
func (c *Consumer) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), consumerTimeout)
	defer cancel()
	c.refreshIfOld(ctx)
	st, at, ok := c.State()
	if !ok || c.now().Sub(at) > consumerStale {
		return
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(c.pending, float64(st.Pending))
	gauge(c.ackPend, float64(st.AckPending))
	gauge(c.redeliv, float64(st.Redelivered))
	age := 0.0
	if !st.Oldest.IsZero() {
		age = max(at.Sub(st.Oldest).Seconds(), 0)
	}
	gauge(c.oldest, age)
	if c.lag != nil {
		gauge(c.lag, float64(st.Pending)+float64(st.AckPending))
	}
}

// State returns the last state read, when it was read, and whether one
// ever was.
func (c *Consumer) State() (ConsumerState, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.at, !c.at.IsZero()
}

// Refresh reads the state now.
func (c *Consumer) Refresh(ctx context.Context) error {
	c.refreshM.Lock()
	defer c.refreshM.Unlock()
	return c.refresh(ctx)
}

func (c *Consumer) refresh(ctx context.Context) error {
	now := c.now()
	c.mu.Lock()
	c.tried = now
	c.mu.Unlock()
	st, err := c.src(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.state, c.at = st, now
	c.mu.Unlock()
	return nil
}

// refreshIfOld refreshes unless the last try is under consumerMinEvery old;
// concurrent scrapes share one refresh.
func (c *Consumer) refreshIfOld(ctx context.Context) {
	c.refreshM.Lock()
	defer c.refreshM.Unlock()
	c.mu.Lock()
	recent := !c.tried.IsZero() && c.now().Sub(c.tried) < consumerMinEvery
	c.mu.Unlock()
	if !recent {
		_ = c.refresh(ctx) // a failure leaves the last state, reported until it is stale
	}
}

// Run refreshes the state every 5 s until ctx ends; it returns nil.
func (c *Consumer) Run(ctx context.Context) error {
	t := time.NewTicker(consumerEvery)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, consumerTimeout)
		c.refreshIfOld(rctx)
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
