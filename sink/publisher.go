package sink

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/worker"
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
//
// The publisher enforces MaxPending and StallWait itself, before handing a
// message to JetStream: the JetStream context's own stall wait is a
// per-call option that costs an allocation of several hundred bytes per
// publish. Its pending set is a superset of the JetStream context's (a
// message enters it before JetStream's and leaves it after), so the
// context, bounded by the same MaxPending, never stalls.
type Publisher struct {
	cfg PublisherConfig
	nc  *nats.Conn
	js  jetstream.JetStream

	mu      sync.Mutex
	pending map[*nats.Msg]pendingPub
	room    chan struct{} // closed when a publish waiting for room may retry

	results sync.Pool // *Result
	stamp   atomic.Pointer[stamp]
}

// pendingPub is one publish awaiting its PubAck.
type pendingPub struct {
	done func(error)
	res  *Result // returned to the pool after a successful PubAck
}

// stamp is a Scored-At value and the millisecond it stands for.
type stamp struct {
	ms int64
	s  string
}

// NewPublisher returns a publisher over nc.
func NewPublisher(nc *nats.Conn, cfg PublisherConfig) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Publisher{cfg: cfg, nc: nc, pending: make(map[*nats.Msg]pendingPub)}
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
	h[HeaderScoredAt] = []string{p.scoredAt(now)}
	copyTrace(h, meta.From)
	return &nats.Msg{Subject: p.cfg.Results, Data: body, Header: h}
}

// PublishResult publishes msg (from ResultMsg) to the results stream. On a
// nil return done will be called exactly once; on an error it will not.
func (p *Publisher) PublishResult(msg *nats.Msg, done func(error)) error {
	return p.publish(msg, nil, done)
}

// Result is a result message drawn from the publisher's pool by Scored: the
// async path's hot path reuses the message, its header map and its body
// buffer instead of allocating them per message. Msg is the message as
// ResultMsg would build it.
type Result struct {
	Msg  nats.Msg
	vals [3]string // header values, sliced into Msg.Header
}

// Scored returns the result message of one scored row (body as
// AppendResult writes it, headers as ResultMsg sets them; meta.ErrorCode is
// ignored) from the publisher's pool. Hand it to PublishScored, after which
// neither r nor r.Msg may be used: the publisher takes it back once its
// PubAck has been handled.
func (p *Publisher) Scored(m *worker.Model, out []float64, meta Meta, now time.Time) *Result {
	r, _ := p.results.Get().(*Result)
	if r == nil {
		r = &Result{Msg: nats.Msg{Header: make(nats.Header, 6)}}
	}
	h := r.Msg.Header
	clear(h)
	r.Msg.Subject = p.cfg.Results
	r.Msg.Data = AppendResult(r.Msg.Data[:0], meta.ID, m, out)
	r.vals = [3]string{meta.ID, meta.Model, p.scoredAt(now)}
	h[HeaderMsgID] = r.vals[0:1:1]
	if meta.Model != "" {
		h[HeaderModel] = r.vals[1:2:2]
	}
	h[HeaderScoredAt] = r.vals[2:3:3]
	copyTrace(h, meta.From)
	return r
}

// PublishScored publishes r (from Scored) to the results stream, like
// PublishResult. Copy it to a reply subject (Reply with &r.Msg) before this
// call, not after.
func (p *Publisher) PublishScored(r *Result, done func(error)) error {
	return p.publish(&r.Msg, r, done)
}

// scoredAt formats now for the Scored-At header, once per millisecond.
func (p *Publisher) scoredAt(now time.Time) string {
	ms := now.UnixMilli()
	if st := p.stamp.Load(); st != nil && st.ms == ms {
		return st.s
	}
	st := &stamp{ms: ms, s: now.UTC().Format(ScoredAtLayout)}
	p.stamp.Store(st)
	return st.s
}

// Reply copies msg's body and headers to subject over core NATS: best
// effort, no acknowledgement. The caller has checked the subject.
func (p *Publisher) Reply(subject string, msg *nats.Msg) error {
	if err := p.nc.PublishMsg(&nats.Msg{Subject: subject, Data: msg.Data, Header: msg.Header}); err != nil {
		return fmt.Errorf("reply to %s: %w", subject, err)
	}
	return nil
}

func (p *Publisher) publish(msg *nats.Msg, res *Result, done func(error)) error {
	// Registered before publishing: the PubAck can arrive before
	// PublishMsgAsync returns.
	if err := p.register(msg, pendingPub{done: done, res: res}); err != nil {
		return fmt.Errorf("publish to %s: %w", msg.Subject, err)
	}
	if _, err := p.js.PublishMsgAsync(msg); err != nil {
		p.mu.Lock()
		_, mine := p.pending[msg]
		p.remove(msg)
		p.mu.Unlock()
		if !mine { // the error handler already reported it
			return nil
		}
		return fmt.Errorf("publish to %s: %w", msg.Subject, err)
	}
	return nil
}

// register adds msg to the pending set, waiting up to StallWait while
// MaxPending publishes are already pending.
func (p *Publisher) register(msg *nats.Msg, pp pendingPub) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	p.mu.Lock()
	for len(p.pending) >= p.cfg.MaxPending {
		if p.room == nil {
			p.room = make(chan struct{})
		}
		room := p.room
		p.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(p.cfg.StallWait)
		}
		select {
		case <-room:
		case <-timer.C:
			return fmt.Errorf("%d publishes pending for %s: %w", p.cfg.MaxPending, p.cfg.StallWait, jetstream.ErrTooManyStalledMsgs)
		}
		p.mu.Lock()
	}
	p.pending[msg] = pp
	p.mu.Unlock()
	return nil
}

// remove deletes msg from the pending set and wakes publishes waiting for
// room. p.mu is held.
func (p *Publisher) remove(msg *nats.Msg) {
	delete(p.pending, msg)
	if p.room != nil && len(p.pending) < p.cfg.MaxPending {
		close(p.room)
		p.room = nil
	}
}

func (p *Publisher) resolve(m *nats.Msg, err error) {
	p.mu.Lock()
	pp, ok := p.pending[m]
	if ok {
		p.remove(m)
	}
	p.mu.Unlock()
	if !ok {
		return
	}
	if err != nil {
		pp.done(fmt.Errorf("publish to %s: %w", m.Subject, err))
		return
	}
	pp.done(nil)
	if pp.res != nil {
		// Only after a PubAck: JetStream is done with the message (a
		// failed one might still be in a retry of its own).
		p.results.Put(pp.res)
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
