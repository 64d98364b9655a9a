package loadtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AsyncConfig describes an async run (scorer bench async).
type AsyncConfig struct {
	// N is how many applications to publish.
	N int
	// Subject is the async input subject (loans.score); Results the
	// results' base subject (loans.scored): results arrive on
	// <Results>.<id>, so the run listens on <Results>.>.
	Subject, Results string
	// InFlight bounds the publishes awaiting their JetStream ack.
	InFlight int
	// Timeout bounds the whole run, publishing and waiting for results.
	Timeout time.Duration
	// Prefix starts every message id (NewRunID); ids are Prefix plus the
	// application's number.
	Prefix string
}

// DefaultAsyncConfig returns 10,000 applications to the default topology's
// async subject (loans.score), results on its results subject
// (loans.scored), 1024 publishes in flight, a 5-minute bound.
func DefaultAsyncConfig() AsyncConfig {
	subjects := ingest.DefaultTopology().Subjects
	return AsyncConfig{N: 10000, Subject: subjects.Score, Results: subjects.Results, InFlight: 1024, Timeout: 5 * time.Minute}
}

// Validate checks the configuration; errors wrap ErrConfig.
func (c AsyncConfig) Validate() error {
	switch {
	case c.N < 1:
		return fmt.Errorf("%w: n must be at least 1, got %d", ErrConfig, c.N)
	case c.Subject == "" || c.Results == "":
		return fmt.Errorf("%w: subject and results subject are required", ErrConfig)
	case c.InFlight < 1:
		return fmt.Errorf("%w: in-flight must be at least 1, got %d", ErrConfig, c.InFlight)
	case c.Timeout <= 0:
		return fmt.Errorf("%w: timeout must be positive, got %s", ErrConfig, c.Timeout)
	case c.Prefix == "":
		return fmt.Errorf("%w: a message id prefix is required", ErrConfig)
	}
	return nil
}

// AsyncResult is the outcome of an async run.
type AsyncResult struct {
	// Published is how many publishes JetStream acknowledged; Results how
	// many distinct results came back, Failures how many of those were
	// error results.
	Published, Results, Failures int
	// PublishElapsed is the time from the first publish to the last ack.
	PublishElapsed time.Duration
	// Elapsed is the time from the first publish to the last result.
	Elapsed time.Duration
	// Throughput is Results per second of Elapsed (end to end).
	Throughput float64
	// P50, P95, P99 and Max are publish-to-result latencies (Histogram
	// precision; Max exact).
	P50, P95, P99, Max time.Duration
}

// asyncRun tracks one run's messages.
type asyncRun struct {
	prefix  string
	sent    []atomic.Int64 // publish time (unix ns) per message
	seen    []atomic.Bool
	mu      sync.Mutex
	hist    Histogram
	fails   int
	results atomic.Int64
	lastAt  atomic.Int64
	done    chan struct{}
	n       int64
}

func (r *asyncRun) onResult(m *nats.Msg) {
	now := time.Now().UnixNano()
	id, ok := strings.CutPrefix(m.Header.Get("Nats-Msg-Id"), r.prefix)
	if !ok {
		return
	}
	i, err := strconv.Atoi(id)
	if err != nil || i < 0 || i >= len(r.sent) || !r.seen[i].CompareAndSwap(false, true) {
		return // not ours, or a duplicate
	}
	d := time.Duration(now - r.sent[i].Load())
	r.mu.Lock()
	r.hist.Record(d)
	if isError(m.Data) {
		r.fails++
	}
	r.mu.Unlock()
	r.lastAt.Store(now)
	if r.results.Add(1) == r.n {
		close(r.done)
	}
}

// RunAsync publishes cfg.N applications (cycling through bodies) to
// cfg.Subject through JetStream, with at most cfg.InFlight unacknowledged,
// and waits until every result has come back on cfg.Results or
// cfg.Timeout passes. It returns what it measured, with an error when
// results are missing.
func RunAsync(ctx context.Context, nc *nats.Conn, bodies [][]byte, cfg AsyncConfig) (*AsyncResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(bodies) == 0 {
		return nil, fmt.Errorf("%w: no request bodies", ErrConfig)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var pubFailed atomic.Int64
	var r *asyncRun
	onPubErr := func(_ jetstream.JetStream, m *nats.Msg, _ error) {
		// A message JetStream refused never gets a result: stop waiting
		// for it.
		pubFailed.Add(1)
		if id, ok := strings.CutPrefix(m.Header.Get("Nats-Msg-Id"), cfg.Prefix); ok {
			if i, err := strconv.Atoi(id); err == nil && i >= 0 && i < cfg.N && r.seen[i].CompareAndSwap(false, true) {
				if r.results.Add(1) == r.n {
					close(r.done)
				}
			}
		}
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.InFlight), jetstream.WithPublishAsyncErrHandler(onPubErr))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	r = &asyncRun{prefix: cfg.Prefix, sent: make([]atomic.Int64, cfg.N), seen: make([]atomic.Bool, cfg.N),
		done: make(chan struct{}), n: int64(cfg.N)}
	sub, err := nc.Subscribe(cfg.Results+".>", r.onResult)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", cfg.Results, err)
	}
	defer sub.Unsubscribe()
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", cfg.Results, err)
	}
	if err := nc.Flush(); err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", cfg.Results, err)
	}

	res := &AsyncResult{}
	start := time.Now()
	for i := range cfg.N {
		id := cfg.Prefix + strconv.Itoa(i)
		r.sent[i].Store(time.Now().UnixNano())
		if _, err := js.PublishAsync(cfg.Subject, bodies[i%len(bodies)], jetstream.WithMsgID(id), jetstream.WithStallWait(cfg.Timeout)); err != nil {
			return res, fmt.Errorf("publish %s id %s: %w", cfg.Subject, id, err)
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("publishing %d of %d: %w", i, cfg.N, ctx.Err())
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return res, fmt.Errorf("waiting for %d publish acks: %w", js.PublishAsyncPending(), ctx.Err())
	}
	res.PublishElapsed = time.Since(start)
	res.Published = cfg.N - int(pubFailed.Load())
	var waitErr error
	select {
	case <-r.done:
	case <-ctx.Done():
		waitErr = fmt.Errorf("%d of %d results within %s: %w", r.results.Load()-pubFailed.Load(), cfg.N, cfg.Timeout, ctx.Err())
	}
	if n := pubFailed.Load(); n > 0 {
		waitErr = errors.Join(waitErr, fmt.Errorf("%w: JetStream refused %d of %d publishes", ErrFailed, n, cfg.N))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	res.Results = int(r.hist.Count())
	res.Failures = r.fails
	if last := r.lastAt.Load(); last > 0 {
		res.Elapsed = time.Duration(last - start.UnixNano())
	}
	if res.Elapsed > 0 {
		res.Throughput = float64(res.Results) / res.Elapsed.Seconds()
	}
	res.P50, res.P95, res.P99, res.Max = r.hist.Quantile(0.5), r.hist.Quantile(0.95), r.hist.Quantile(0.99), r.hist.Max()
	if res.Results == 0 {
		return res, errors.Join(ErrNoRequests, waitErr)
	}
	return res, waitErr
}
