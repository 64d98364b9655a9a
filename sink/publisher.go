package sink

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Header names the scorer reads and writes.
const (
	HeaderMsgID       = "Nats-Msg-Id"
	HeaderModel       = "Model"
	HeaderScoredAt    = "Scored-At"
	HeaderErrorCode   = "Error-Code"
	HeaderReplyTo     = "Reply-To"
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
	HeaderRequestID   = "X-Request-Id"
)

// copiedHeaders travel from an input message to its result and dead letter.
var copiedHeaders = [...]string{HeaderTraceparent, HeaderTracestate, HeaderRequestID}

// ScoredAtLayout is the Scored-At header format: RFC 3339, UTC, milliseconds.
const ScoredAtLayout = "2006-01-02T15:04:05.000Z07:00"

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Results is the subject of the results stream.
	Results string
	// DLQ is the subject of the dead-letter stream.
	DLQ string
	// MaxPending bounds the async publishes awaiting their PubAck; a
	// publish beyond it waits (backpressure) up to StallWait.
	MaxPending int
	// AckTimeout fails a publish whose PubAck has not arrived in time, so
	// its input is nak'ed instead of waiting forever.
	AckTimeout time.Duration
	// StallWait bounds how long a publish waits for room under MaxPending.
	StallWait time.Duration
}

// DefaultPublisherConfig returns DESIGN.md's subjects, 4096 pending
// publishes, a 10s PubAck timeout and a 30s stall wait.
func DefaultPublisherConfig() PublisherConfig {
	return PublisherConfig{Results: "loans.scored", DLQ: "loans.dlq", MaxPending: 4096, AckTimeout: 10 * time.Second, StallWait: 30 * time.Second}
}

// Validate reports an unusable configuration.
func (c PublisherConfig) Validate() error {
	switch {
	case c.Results == "" || c.DLQ == "":
		return fmt.Errorf("publisher: results and dlq subjects must be set")
	case c.MaxPending < 1:
		return fmt.Errorf("publisher: max pending %d, want >= 1", c.MaxPending)
	case c.AckTimeout <= 0 || c.StallWait <= 0:
		return fmt.Errorf("publisher: ack timeout and stall wait must be positive")
	}
	return nil
}

// Publisher publishes results to the results stream and dead letters to
// the dead-letter stream with JetStream async publishes (bounded pending),
// and copies results to reply subjects over core NATS. Each publish takes
// a done callback, called exactly once, from the connection's goroutine,
// with nil once JetStream acknowledged the message (stored, or recognised
// as a duplicate by its Nats-Msg-Id) or with the failure: the caller acks
// its input only then. Callbacks must not block.
type Publisher struct {
	cfg PublisherConfig
	nc  *nats.Conn
	js  jetstream.JetStream

	mu      sync.Mutex
	pending map[*nats.Msg]func(error)
}

// NewPublisher returns a publisher over nc.
func NewPublisher(nc *nats.Conn, cfg PublisherConfig) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Publisher{cfg: cfg, nc: nc, pending: make(map[*nats.Msg]func(error))}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxPending),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) { p.resolve(m, nil) }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) { p.resolve(m, err) }),
	)
	if err != nil {
		return nil, fmt.Errorf("publisher: jetstream context: %w", err)
	}
	p.js = js
	return p, nil
}

// Meta is what a result's headers say beyond its body.
type Meta struct {
	// ID is the result id (the input's Nats-Msg-Id or "<stream>:<seq>").
	ID string
	// Model is the model version (for an error result: the model the
	// input was checked against; empty when unknown).
	Model string
	// ErrorCode is set for an error result.
	ErrorCode string
	// From is the input message's header, whose trace headers are copied.
	From nats.Header
}

// ResultMsg builds the result message for body: Nats-Msg-Id, Model,
// Scored-At, Error-Code for errors, and the input's trace headers.
func (p *Publisher) ResultMsg(body []byte, meta Meta, now time.Time) *nats.Msg {
	h := make(nats.Header, 6)
	h[HeaderMsgID] = []string{meta.ID}
	if meta.Model != "" {
		h[HeaderModel] = []string{meta.Model}
	}
	if meta.ErrorCode != "" {
		h[HeaderErrorCode] = []string{meta.ErrorCode}
	}
	h[HeaderScoredAt] = []string{now.UTC().Format(ScoredAtLayout)}
	copyTrace(h, meta.From)
	return &nats.Msg{Subject: p.cfg.Results, Data: body, Header: h}
}

// PublishResult publishes msg (from ResultMsg) to the results stream. On a
// nil return done will be called exactly once; on an error it will not.
func (p *Publisher) PublishResult(msg *nats.Msg, done func(error)) error {
	return p.publish(msg, done)
}

// Reply copies msg's body and headers to subject over core NATS: best
// effort, no acknowledgement. The caller has checked the subject.
func (p *Publisher) Reply(subject string, msg *nats.Msg) error {
	if err := p.nc.PublishMsg(&nats.Msg{Subject: subject, Data: msg.Data, Header: msg.Header}); err != nil {
		return fmt.Errorf("reply to %s: %w", subject, err)
	}
	return nil
}

func (p *Publisher) publish(msg *nats.Msg, done func(error)) error {
	// Registered before publishing: the PubAck can arrive before
	// PublishMsgAsync returns.
	p.mu.Lock()
	p.pending[msg] = done
	p.mu.Unlock()
	if _, err := p.js.PublishMsgAsync(msg, jetstream.WithStallWait(p.cfg.StallWait)); err != nil {
		p.mu.Lock()
		_, mine := p.pending[msg]
		delete(p.pending, msg)
		p.mu.Unlock()
		if !mine { // the error handler already reported it
			return nil
		}
		return fmt.Errorf("publish to %s: %w", msg.Subject, err)
	}
	return nil
}

func (p *Publisher) resolve(m *nats.Msg, err error) {
	p.mu.Lock()
	done, ok := p.pending[m]
	delete(p.pending, m)
	p.mu.Unlock()
	if ok {
		if err != nil {
			err = fmt.Errorf("publish to %s: %w", m.Subject, err)
		}
		done(err)
	}
}

// Pending returns the number of publishes awaiting their outcome.
func (p *Publisher) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// Wait returns once every publish has its outcome, or with ctx's error.
func (p *Publisher) Wait(ctx context.Context) error {
	select {
	case <-p.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for %d pending publishes: %w", p.Pending(), ctx.Err())
	}
}

// JetStream returns the publisher's JetStream context.
func (p *Publisher) JetStream() jetstream.JetStream { return p.js }

func copyTrace(dst, src nats.Header) {
	for _, k := range copiedHeaders {
		if v := src.Get(k); v != "" {
			dst[k] = []string{v}
		}
	}
}

// headerValue makes s safe as a one-line header value of at most n bytes.
func headerValue(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}
