package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// Header names the scorer reads and writes.
const (
	HeaderMsgID       = jetstream.MsgIDHeader
	HeaderModel       = "Model"
	HeaderScoredAt    = "Scored-At"
	HeaderErrorCode   = "Error-Code"
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
	HeaderRequestID   = "X-Request-Id"
	// HeaderTruncated lists the copied headers that were cut to their
	// bound, as name=original length, comma-separated.
	HeaderTruncated = "Header-Truncated"
	// HeaderExpectedLastSubjectSeq is JetStream's optimistic-concurrency
	// header; "0" stores a message only on an empty subject.
	HeaderExpectedLastSubjectSeq = jetstream.ExpectedLastSubjSeqHeader
)

// copiedHeaders travel from an input message to its result and dead letter,
// each cut to at most max bytes: an input's headers may take up to 64 KiB,
// and what the scorer writes must always fit JetStream's limits. The bounds
// are far above what the W3C trace context needs (traceparent is 55 bytes;
// tracestate is propagated up to 512).
var copiedHeaders = [...]struct {
	name string
	max  int
}{{HeaderTraceparent, 128}, {HeaderTracestate, 1024}, {HeaderRequestID, 256}}

// ScoredAtLayout is the Scored-At header format: RFC 3339, UTC, milliseconds.
const ScoredAtLayout = "2006-01-02T15:04:05.000Z07:00"

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Results is the base subject of the results stream: the result of id
	// is stored on IDSubject(Results, id).
	Results string
	// DLQ is the base subject of the dead-letter stream, likewise.
	DLQ string
	// ResultsStream and DLQStream are the streams that capture them, read
	// when JetStream says a result's subject is taken.
	ResultsStream string
	DLQStream     string
	// MaxPending bounds the async publishes awaiting their PubAck; a
	// publish beyond it waits (backpressure) up to StallWait.
	MaxPending int
	// AckTimeout fails a publish whose PubAck has not arrived in time, so
	// its input is nak'ed instead of waiting forever.
	AckTimeout time.Duration
	// StallWait bounds how long a publish waits for room under MaxPending.
	StallWait time.Duration
}

// DefaultPublisherConfig returns 4096 pending publishes, a 10s PubAck
// timeout and a 30s stall wait. The subjects and streams have no default
// here: they come from the topology (ingest.Topology, configured once),
// which the caller copies in.
func DefaultPublisherConfig() PublisherConfig {
	return PublisherConfig{MaxPending: 4096, AckTimeout: 10 * time.Second, StallWait: 30 * time.Second}
}

// Validate reports an unusable configuration.
func (c PublisherConfig) Validate() error {
	switch {
	case c.Results == "" || c.DLQ == "":
		return fmt.Errorf("publisher: results and dlq subjects must be set")
	case c.ResultsStream == "" || c.DLQStream == "":
		return fmt.Errorf("publisher: results and dlq streams must be set")
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
// a done callback, called exactly once, from the connection's goroutine or
// one of the publisher's, with nil once the message is stored: JetStream
// acknowledged it, or recognised it as a duplicate by its Nats-Msg-Id, or
// refused it because its id's subject already holds a message (checked by
// reading that subject). Otherwise done gets the failure: wrapped in
// ErrUnstorable when retrying can never help (see Permanent), else a
// transient one. The caller acks its input only after a nil. Callbacks
// must not block.
//
// Results and dead letters are stored one subject per id (subject.go), each
// with Nats-Expected-Last-Subject-Sequence: 0, so a second result for an id
// is never stored, however late it comes.
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

	streamMu sync.Mutex
	streams  map[string]jetstream.Stream // by name, for takenBy
	log      *slog.Logger
	// takenWG counts the checks of subjects JetStream said were taken,
	// which run on goroutines of their own; Wait waits for them.
	takenWG sync.WaitGroup
	// alreadyStored counts publishes found stored already (AlreadyStored).
	alreadyStored atomic.Uint64
}

// AlreadyStored returns how many publishes found their id's result or dead
// letter stored already (a redelivery of a message whose ack was lost):
// counted as stored, not stored again.
func (p *Publisher) AlreadyStored() uint64 { return p.alreadyStored.Load() }

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

// NewPublisher returns a publisher over nc; log (nil: slog.Default())
// receives the rare events of publishing: a result that was stored already
// under another id's subject.
func NewPublisher(nc *nats.Conn, cfg PublisherConfig, log *slog.Logger) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Publisher{cfg: cfg, nc: nc, pending: make(map[*nats.Msg]pendingPub), streams: map[string]jetstream.Stream{}, log: log}
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
	// ID is the result id (the input's Nats-Msg-Id or "<stream>:<seq>"),
	// which names the result's subject.
	ID string
	// Model is the model version (for an error result: the model the
	// input was checked against; empty when unknown).
	Model string
	// ErrorCode is set for an error result.
	ErrorCode string
	// From is the input message's header, whose trace headers are copied.
	From nats.Header
}

// ResultMsg builds the result message for body, on the subject of
// meta.ID: Nats-Msg-Id, Model, Scored-At, Error-Code for errors, the
// input's trace headers (bounded) and Nats-Expected-Last-Subject-Sequence.
func (p *Publisher) ResultMsg(body []byte, meta Meta, now time.Time) *nats.Msg {
	h := make(nats.Header, 8)
	h[HeaderMsgID] = []string{meta.ID}
	h[HeaderExpectedLastSubjectSeq] = []string{"0"}
	if meta.Model != "" {
		h[HeaderModel] = []string{meta.Model}
	}
	if meta.ErrorCode != "" {
		h[HeaderErrorCode] = []string{meta.ErrorCode}
	}
	h[HeaderScoredAt] = []string{p.scoredAt(now)}
	copyTrace(h, meta.From)
	return &nats.Msg{Subject: IDSubject(p.cfg.Results, meta.ID), Data: body, Header: h}
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
	vals [4]string // header values, sliced into Msg.Header
}

// Scored returns the result message of one scored row (body as
// AppendResult writes it, with note's fields when note has any; headers as ResultMsg sets them; meta.ErrorCode is
// ignored) from the publisher's pool. Hand it to PublishScored, after which
// neither r nor r.Msg may be used: the publisher takes it back once its
// PubAck has been handled.
func (p *Publisher) Scored(m *model.Loaded, out []float64, note *reason.Note, meta Meta, now time.Time) *Result {
	r, _ := p.results.Get().(*Result)
	if r == nil {
		r = &Result{Msg: nats.Msg{Header: make(nats.Header, 8)}}
	}
	h := r.Msg.Header
	clear(h)
	r.Msg.Subject = IDSubject(p.cfg.Results, meta.ID)
	r.Msg.Data = AppendResult(r.Msg.Data[:0], meta.ID, m, out, note)
	r.vals = [4]string{meta.ID, meta.Model, p.scoredAt(now), "0"}
	h[HeaderMsgID] = r.vals[0:1:1]
	if meta.Model != "" {
		h[HeaderModel] = r.vals[1:2:2]
	}
	h[HeaderScoredAt] = r.vals[2:3:3]
	h[HeaderExpectedLastSubjectSeq] = r.vals[3:4:4]
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

// Reply copies msg's body and headers (less JetStream's
// Nats-Expected-Last-Subject-Sequence) to subject over core NATS: best
// effort, no acknowledgement. The caller has checked the subject.
func (p *Publisher) Reply(subject string, msg *nats.Msg) error {
	h := make(nats.Header, len(msg.Header))
	for k, v := range msg.Header {
		if k != HeaderExpectedLastSubjectSeq {
			h[k] = v
		}
	}
	if err := p.nc.PublishMsg(&nats.Msg{Subject: subject, Data: msg.Data, Header: h}); err != nil {
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
		return classify(msg.Subject, err)
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
	switch {
	case err == nil:
		pp.done(nil)
		if pp.res != nil {
			// Only after a PubAck: JetStream is done with the message (a
			// failed one might still be in a retry of its own).
			p.results.Put(pp.res)
		}
	case subjectTaken(err):
		// Reading the subject is a request: not on the connection's
		// goroutine, which delivers its answer.
		p.takenWG.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), p.cfg.AckTimeout)
			defer cancel()
			pp.done(p.checkTaken(ctx, m, err))
		})
	default:
		pp.done(classify(m.Subject, err))
	}
}

// classify wraps a failed publish of a message to subject, marking the
// failures retrying cannot help.
func classify(subject string, err error) error {
	if Permanent(err) && !errors.Is(err, ErrUnstorable) {
		return fmt.Errorf("publish to %s: %w: %w", subject, ErrUnstorable, err)
	}
	return fmt.Errorf("publish to %s: %w", subject, err)
}

// checkTaken is the outcome of a publish of m that JetStream refused with
// "wrong last sequence" (err): nil when m's subject holds a message (the
// id's result or dead letter is stored: what m would have stored), else a
// transient error (the server could not read the subject's state).
func (p *Publisher) checkTaken(ctx context.Context, m *nats.Msg, err error) error {
	name := p.cfg.DLQStream
	if strings.HasPrefix(m.Subject, p.cfg.Results+".") {
		name = p.cfg.ResultsStream
	}
	st, serr := p.stream(ctx, name)
	if serr != nil {
		return fmt.Errorf("publish to %s: %w; look up stream %s: %w", m.Subject, err, name, serr)
	}
	stored, gerr := st.GetLastMsgForSubject(ctx, m.Subject)
	if gerr != nil {
		return fmt.Errorf("publish to %s: %w; read what the subject holds: %w", m.Subject, err, gerr)
	}
	p.alreadyStored.Add(1)
	if id, want := stored.Header.Get(HeaderMsgID), m.Header.Get(HeaderMsgID); id != want {
		p.log.Warn("a message with another id is stored on this id's subject; keeping it",
			"subject", m.Subject, "stored_seq", stored.Sequence, "stored_id_bytes", len(id))
	}
	return nil
}

// stream returns the handle of the named stream, looked up once.
func (p *Publisher) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	p.streamMu.Lock()
	defer p.streamMu.Unlock()
	if st, ok := p.streams[name]; ok {
		return st, nil
	}
	st, err := p.js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	p.streams[name] = st
	return st, nil
}

// Store publishes msg (from ResultMsg or DeadLetterMsg) and waits for its
// outcome, classified as for an async publish: nil once it is stored or its
// id's subject already holds a message, ErrUnstorable when retrying can
// never help, else a transient error.
func (p *Publisher) Store(ctx context.Context, msg *nats.Msg) error {
	_, err := p.js.PublishMsg(ctx, msg)
	switch {
	case err == nil:
		return nil
	case subjectTaken(err):
		return p.checkTaken(ctx, msg, err)
	}
	return classify(msg.Subject, err)
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
	case <-ctx.Done():
		return fmt.Errorf("wait for %d pending publishes: %w", p.Pending(), ctx.Err())
	}
	checked := make(chan struct{})
	go func() {
		p.takenWG.Wait()
		close(checked)
	}()
	select {
	case <-checked:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the checks of taken subjects: %w", ctx.Err())
	}
}

// JetStream returns the publisher's JetStream context.
func (p *Publisher) JetStream() jetstream.JetStream { return p.js }

// copyTrace copies the trace headers of src to dst, each cut to its bound;
// Header-Truncated then lists what was cut and its original length.
func copyTrace(dst, src nats.Header) {
	var truncated []byte
	for _, c := range copiedHeaders {
		v := src.Get(c.name)
		if v == "" {
			continue
		}
		if len(v) > c.max {
			if truncated != nil {
				truncated = append(truncated, ',')
			}
			truncated = append(append(append(truncated, c.name...), '='), strconv.Itoa(len(v))...)
			v = v[:c.max]
		}
		dst[c.name] = []string{v}
	}
	if truncated != nil {
		dst[HeaderTruncated] = []string{string(truncated)}
	}
}

// headerValue makes s safe as a one-line header value of at most n bytes:
// cut first (so a huge value costs no more than n), control characters
// replaced by spaces, a rune split by the cut dropped.
func headerValue(s string, n int) string {
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
