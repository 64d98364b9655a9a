package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/sink"
	"github.com/loan-scorer/loan-scorer/worker"
)

// Outcomes of async messages (metrics "outcome" label) beyond those in
// package metrics.
const (
	OutcomeDeadLetter  = "dead_letter"
	OutcomeNak         = "nak"
	OutcomeTerm        = "term"
	OutcomeRedelivered = "redelivered"
)

// AsyncParams are what the async pipeline is built from.
type AsyncParams struct {
	// Consumer is the durable pull consumer (from Setup).
	Consumer jetstream.Consumer
	// Config is the consumer's configuration (pull buffer, nak delay, ack
	// wait for InProgress).
	Config ConsumerConfig
	// Reply says which Reply-To subjects get a copy of the result.
	Reply ReplyConfig
	// Models holds the current model; each message is decoded and scored
	// against the one loaded when it arrives.
	Models   *model.Holder
	Decoders func(*model.Loaded) *Decoder
	Batcher  *worker.Batcher
	// Publisher publishes results and dead letters; MaxPayload is the
	// server's message size limit, for truncating dead letters.
	Publisher  *sink.Publisher
	MaxPayload int64
	// MaxID is limits.max_id: the longest Nats-Msg-Id taken as a result id
	// (see ResultID); 0 means DefaultMaxID.
	MaxID   int
	Metrics *metrics.Metrics
	Log     *slog.Logger
}

// Async is the async path: it pulls from the durable consumer in bounded
// fetches (fetchLoop), decodes each message against the current model,
// hands it to the batcher, publishes the result to the results stream (and a copy
// to an allowed Reply-To), and acks the input only after the result is
// stored (or found stored already: results are stored once per id). Bad
// input gets an error result and a dead letter, then Term. A failed result
// or dead-letter publish (results stream full, no quorum, broker away) is
// retried in place, the message held, so an outage of the results path
// spends none of the message's deliveries (max_deliver); a failure to
// decode or score for another reason NakWithDelay. A publish JetStream will
// refuse forever (sink.ErrUnstorable: too large for the stream or server)
// is never held: a result that cannot be stored is replaced by an error
// result (code unstorable) and a dead letter, and an error result or dead
// letter that cannot be stored is given up with a rate-limited warning;
// the message is then termed. Messages held
// longer than a third of the ack wait get InProgress so JetStream does not
// redeliver them meanwhile; held messages fill MaxAckPending, which stops
// consumption until the results path is back.
//
// Lifecycle: Start, then on shutdown Drain (stop pulling; every message
// already delivered reaches the batcher), close the batcher, then Settle
// (wait for every outcome; nak what is left when its context ends).
type Async struct {
	p      AsyncParams
	ctx    context.Context // ends Submit waits at a hard stop
	cancel context.CancelFunc
	shed   atomic.Bool // past the drain deadline: nak without scoring
	// draining stops the fetchers from starting new fetches; fetchDone is
	// closed once every fetcher (counted in fetching) has returned.
	draining  chan struct{}
	fetching  sync.WaitGroup
	fetchDone chan struct{}
	stop      chan struct{} // stops the InProgress loop
	wg        sync.WaitGroup
	fetchLog  outage // fetch failures, logged like publish failures
	// unstorableLog bounds the warnings about parts given up as unstorable.
	unstorableLog *logLimiter

	mu       sync.Mutex
	inflight map[*delivery]struct{}

	held   atomic.Int64 // messages whose publish is being retried
	outage outage
	// retries are the held messages' next rounds, taken by retrier when
	// due, or all at once when a publish succeeds again (recovered).
	retryMu   sync.Mutex
	retries   []retryRound
	recovered chan struct{}

	// Collectors resolved once: a label lookup per message adds up.
	count   map[string]prometheus.Counter
	latency prometheus.Observer

	rows sync.Pool // *model.Batch of one row, reused once its job is done
}

// NewAsync checks p and returns the pipeline, not yet consuming.
func NewAsync(p AsyncParams) (*Async, error) {
	if p.Consumer == nil || p.Models == nil || p.Decoders == nil || p.Batcher == nil || p.Publisher == nil {
		return nil, errors.New("ingest: NewAsync needs a consumer, models, decoders, a batcher and a publisher")
	}
	if p.Metrics == nil {
		p.Metrics = metrics.New(nil)
	}
	if p.Log == nil {
		p.Log = slog.Default()
	}
	if p.MaxPayload <= 0 {
		p.MaxPayload = 1 << 20
	}
	if p.MaxID <= 0 {
		p.MaxID = DefaultMaxID
	}
	a := &Async{p: p, stop: make(chan struct{}), inflight: make(map[*delivery]struct{}), count: map[string]prometheus.Counter{},
		recovered: make(chan struct{}, 1), draining: make(chan struct{}), fetchDone: make(chan struct{}),
		outage:   outage{what: "result publish", start: "holding messages and retrying, nothing is nak'ed"},
		fetchLog: outage{what: "fetch", start: "retrying"},
		unstorableLog: newLogLimiter(p.Log, slog.LevelWarn,
			"gave up storing an error result or dead letter that can never be stored; the message is terminated", outageLogEvery)}
	for _, o := range []string{metrics.OutcomeScored, metrics.OutcomeInvalid, OutcomeDeadLetter, OutcomeNak, OutcomeTerm, OutcomeRedelivered} {
		a.count[o] = p.Metrics.MessagesTotal.WithLabelValues(o)
	}
	a.latency = p.Metrics.EndToEndSeconds.WithLabelValues(metrics.PathAsync)
	return a, nil
}

// Start begins consuming. ctx is the hard-stop context: when it ends, a
// message waiting for room in the batcher is nak'ed instead.
func (a *Async) Start(ctx context.Context) error {
	if a.ctx != nil {
		return errors.New("ingest: Async started twice")
	}
	a.ctx, a.cancel = context.WithCancel(ctx)
	batch := max(a.p.Config.PullMaxMessages/fetchers, 1)
	for range fetchers {
		a.fetching.Go(func() { a.fetchLoop(batch) })
	}
	go func() {
		a.fetching.Wait()
		close(a.fetchDone)
	}()
	a.wg.Go(a.heartbeat)
	a.wg.Go(a.retrier)
	return nil
}

// fetchers is how many fetch requests each worker keeps going: while one
// worker's batch is handled, the other's messages are on their way.
const fetchers = 2

// fetchBytes bounds the bytes one fetch may bring: batch messages of
// ordinary size pass under it, but a backlog of large messages (up to the
// server's max payload, headers up to 64 KiB) cannot fill the worker's
// memory with pull_max_messages of them. It is at least twice the largest
// message, so every message fits a fetch.
func (a *Async) fetchBytes() int {
	return int(max(fetchBytesMin, 2*a.p.MaxPayload+128<<10))
}

// fetchBytesMin is the byte budget of one fetch with ordinary limits.
const fetchBytesMin = 4 << 20

// fetchWait is how long one fetch waits for messages on an idle stream, and
// so how long Drain can wait for the fetches to end when nothing arrives.
const fetchWait = time.Second

// fetchLoop fetches batches of up to batch messages (pull_max_messages over
// fetchers) and hands each message to handle, until Drain. It uses Fetch,
// not Consume: a Consume subscription is dropped at Drain while the server
// may still be delivering to it, and what it delivered in that window stays
// unacknowledged until the ack wait (nats.go#898). A fetch's subscription
// lives until the server has ended the request (its batch delivered, or a
// timeout status at fetchWait), so every delivered message is handled:
// scored, or nak'ed past the drain deadline.
func (a *Async) fetchLoop(batch int) {
	wait := 100 * time.Millisecond
	for {
		select {
		case <-a.draining:
			return
		default:
		}
		mb, err := a.p.Consumer.Fetch(batch, jetstream.FetchMaxWait(fetchWait), jetstream.FetchMaxBytes(a.fetchBytes()))
		if err == nil {
			for msg := range mb.Messages() {
				a.handle(msg)
			}
			err = mb.Error()
		}
		if err == nil {
			a.fetchLog.ok(a.p.Log)
			wait = 100 * time.Millisecond
			continue
		}
		a.fetchLog.fail(a.p.Log, err, "consumer", a.p.Config.Name, "retry_after", wait)
		select {
		case <-a.draining:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// Drain stops fetching and returns once every fetch has ended and every
// message it delivered has been handed to the batcher (or settled). When
// ctx ends first, the messages still arriving are nak'ed without scoring
// (a message dropped would only come back after the ack wait), and Drain
// returns an error once the fetches have ended, or after shedGrace more.
func (a *Async) Drain(ctx context.Context) error {
	if a.ctx == nil {
		return nil
	}
	select {
	case <-a.draining:
	default:
		close(a.draining)
	}
	select {
	case <-a.fetchDone:
		return nil
	case <-ctx.Done():
	}
	a.shed.Store(true)
	a.cancel() // a handler waiting for room in the batcher naks instead
	select {
	case <-a.fetchDone:
	case <-time.After(shedGrace):
	}
	return fmt.Errorf("drain consumer %s: delivered messages nak'ed: %w", a.p.Config.Name, ctx.Err())
}

// shedGrace bounds how long Drain waits for the fetches to end after its
// deadline: a fetch ends by fetchWait on the server, and one second later
// on the client at the latest.
const shedGrace = fetchWait + time.Second

// Settle waits until every received message has been acked, termed or
// nak'ed. When ctx ends first, it naks (without delay, so another worker
// takes them at once) the messages still in flight and returns an error
// saying how many.
func (a *Async) Settle(ctx context.Context) error {
	defer func() {
		select {
		case <-a.stop:
		default:
			close(a.stop)
		}
		a.wg.Wait()
	}()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if a.InFlight() == 0 {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			n := 0
			for _, d := range a.snapshot() {
				if a.settle(d, actNakNow, nil) {
					n++
				}
			}
			if n == 0 {
				return nil
			}
			return fmt.Errorf("settle: %d messages not done in time were nak'ed for redelivery: %w", n, ctx.Err())
		}
	}
}

// InFlight returns the number of messages received and not yet settled.
func (a *Async) InFlight() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.inflight)
}

type action uint8

const (
	actAck action = iota + 1
	actTerm
	actNakDelay
	actNakNow
)

// delivery is one input message on its way through the pipeline.
type delivery struct {
	msg jetstream.Msg
	id  string
	seq uint64
	// refusedID is the message's Nats-Msg-Id when it was refused as the
	// result id (id is then made up); it goes into the dead letter.
	refusedID string
	header    nats.Header
	replyTo   string
	received  time.Time
	model     string // version of the model that judged the input
	job       worker.Job
	out       [1]float64 // job.Out's storage for a one-value model

	settled   atomic.Bool
	remaining atomic.Int32 // publishes awaiting their outcome
	final     action       // after every publish succeeded

	retryMu    sync.Mutex
	retry      []*nats.Msg // copies of the parts whose publish failed
	cause      error       // the last failure
	unstorable []error     // this round's failures no retry can help
	// replaced is set once an unstorable result was replaced by an error
	// result and a dead letter, which are then the last attempt.
	replaced bool
	// attempts counts retry rounds; held is set on the first. Both are
	// written by hold only, which the remaining count serializes.
	attempts int
	held     atomic.Bool
}

func (a *Async) handle(msg jetstream.Msg) {
	if a.shed.Load() {
		_ = msg.Nak()
		a.count[OutcomeNak].Inc()
		return
	}
	now := time.Now()
	meta, err := msg.Metadata()
	if err != nil {
		a.p.Log.Error("message without JetStream metadata: terminated", "subject", msg.Subject(), "error", err)
		_ = msg.Term()
		return
	}
	a.p.Metrics.ConsumerLag.Set(float64(meta.NumPending))
	if meta.NumDelivered > 1 {
		a.count[OutcomeRedelivered].Inc()
	}
	hdr := msg.Headers()
	id, refused := ResultID(hdr.Get(HeaderMsgID), meta.Stream, meta.Sequence.Stream, a.p.MaxID)
	m := a.p.Models.Load()
	d := &delivery{msg: msg, id: id, seq: meta.Sequence.Stream, header: hdr, received: now, model: m.Version}
	a.track(d)
	if refused != nil {
		d.refusedID = hdr.Get(HeaderMsgID)
		a.reject(d, refused.(*InputError))
		return
	}

	if rt := hdr.Get(sink.HeaderReplyTo); rt != "" {
		if err := a.p.Reply.Check(rt); err != nil {
			a.reject(d, &InputError{Code: CodeInvalidInput, Message: err.Error(), Fields: map[string]string{sink.HeaderReplyTo: "not_allowed"}})
			return
		}
		d.replyTo = rt
	}
	rows := a.getRows(m.Schema())
	if err := a.p.Decoders(m).DecodeOne(msg.Data(), rows); err != nil {
		a.putRows(rows)
		var in *InputError
		if errors.As(err, &in) {
			a.reject(d, in)
			return
		}
		a.p.Log.Error("decode", "id", id, "error", err)
		a.settle(d, actNakDelay, err)
		return
	}
	d.job = worker.Job{Model: m, Rows: rows, Out: d.out[:0], Done: func(j *worker.Job) { a.scored(d, j) }}
	if err := a.p.Batcher.Submit(a.ctx, &d.job); err != nil {
		// Shutting down: let another worker take it now.
		a.putRows(rows)
		a.settle(d, actNakNow, err)
	}
}

// getRows returns an empty one-row batch shaped for s.
func (a *Async) getRows(s *model.Schema) *model.Batch {
	if b, _ := a.rows.Get().(*model.Batch); b != nil && b.NumFloat == s.NumFloat && b.NumCat == s.NumCat {
		return b
	}
	return model.NewBatch(s, 1)
}

// putRows takes back a batch from getRows that nothing refers to any more
// (the batcher copies a job's rows into its batch, and is done with the job
// once it calls Done).
func (a *Async) putRows(b *model.Batch) {
	b.Reset()
	a.rows.Put(b)
}

// scored runs on a batcher goroutine once d's row is scored.
func (a *Async) scored(d *delivery, j *worker.Job) {
	a.putRows(j.Rows)
	j.Rows = nil
	if errors.Is(j.Err, worker.ErrClosed) {
		a.settle(d, actNakNow, j.Err) // hard stop: another worker takes it now
		return
	}
	if j.Err != nil {
		a.p.Log.Error("score", "id", d.id, "error", j.Err)
		a.settle(d, actNakDelay, j.Err)
		return
	}
	res := a.p.Publisher.Scored(j.Model, j.Out, sink.Meta{ID: d.id, Model: j.Model.Version, From: d.header}, time.Now())
	d.final = actAck
	d.remaining.Store(1)
	a.replyCopy(d, &res.Msg)
	done := func(err error) { a.published(d, &res.Msg, err) }
	if err := a.p.Publisher.PublishScored(res, done); err != nil {
		done(err)
	}
}

// reject answers bad input: an error result, a dead letter, then Term.
func (a *Async) reject(d *delivery, in *InputError) {
	a.count[metrics.OutcomeInvalid].Inc()
	a.giveUp(d, in)
}

// giveUp publishes the error result and the dead letter of d for the
// error e, then terms d.
func (a *Async) giveUp(d *delivery, e *InputError) {
	now := time.Now()
	body := sink.AppendError(make([]byte, 0, 256), d.id, e.Code, e.Message, e.Fields)
	res := a.p.Publisher.ResultMsg(body, sink.Meta{ID: d.id, Model: d.model, ErrorCode: e.Code, From: d.header}, now)
	dl := a.p.Publisher.DeadLetterMsg(sink.DeadLetter{
		ID: d.id, Code: e.Code, Error: e.Message, Subject: d.msg.Subject(), Sequence: d.seq,
		Payload: d.msg.Data(), Header: d.header, RefusedID: d.refusedID,
	}, a.p.MaxPayload, now)
	a.publish(d, actTerm, res, dl)
}

// publish sends the result (and dead letter) and settles d with final once
// every PubAck is in; failed parts are retried (see published).
func (a *Async) publish(d *delivery, final action, res, dl *nats.Msg) {
	d.final = final
	n := int32(1)
	if dl != nil {
		n = 2
	}
	d.remaining.Store(n)
	a.replyCopy(d, res)
	a.send(d, res)
	if dl != nil {
		a.send(d, dl)
	}
}

// send publishes one part of d's outcome (result or dead letter: Publisher
// publishes either to its own subject) and reports to published.
func (a *Async) send(d *delivery, part *nats.Msg) {
	done := func(err error) { a.published(d, part, err) }
	if err := a.p.Publisher.PublishResult(part, done); err != nil {
		done(err)
	}
}

// replyCopy sends the best-effort copy of res to d's Reply-To, if any.
func (a *Async) replyCopy(d *delivery, res *nats.Msg) {
	if d.replyTo == "" {
		return
	}
	if err := a.p.Publisher.Reply(d.replyTo, res); err != nil {
		a.p.Log.Debug("reply copy", "id", d.id, "error", err)
	}
}

// published records the outcome of publishing part. Once every part of d
// has its outcome, d is settled with its final action, or held for another
// round when a part failed for a reason that may pass. A part that can
// never be stored is not retried: a scored result is replaced by an error
// result and a dead letter (once), anything else is given up (unstorable).
func (a *Async) published(d *delivery, part *nats.Msg, err error) {
	if err != nil {
		d.retryMu.Lock()
		if sink.Permanent(err) {
			d.unstorable = append(d.unstorable, err)
		} else {
			// A copy: a pooled result is not reused after a failed
			// publish, but nothing else promises that.
			d.retry = append(d.retry, cloneMsg(part))
			d.cause = err
		}
		d.retryMu.Unlock()
	}
	if d.remaining.Add(-1) != 0 {
		return
	}
	d.retryMu.Lock()
	parts, cause, unstorable := d.retry, d.cause, d.unstorable
	d.retry, d.cause, d.unstorable = nil, nil, nil
	d.retryMu.Unlock()
	if len(unstorable) > 0 {
		a.p.Metrics.UnstorableTotal.Add(float64(len(unstorable)))
		if d.final == actAck && !d.replaced {
			// The scored result alone was published: store why instead.
			d.replaced = true
			a.giveUp(d, &InputError{Code: CodeUnstorable,
				Message: "the result could not be stored: " + boundedError(unstorable[0])})
			return
		}
		a.unstorable(d, unstorable)
	}
	if len(parts) > 0 {
		a.hold(d, parts, cause)
		return
	}
	if a.outage.ok(a.p.Log) {
		select {
		case a.recovered <- struct{}{}:
		default:
		}
	}
	if d.final == actTerm {
		a.count[OutcomeDeadLetter].Inc()
	}
	a.settle(d, d.final, nil)
}

// unstorable warns (rate-limited) that parts of d's outcome were given up
// because JetStream will never store them.
func (a *Async) unstorable(d *delivery, errs []error) {
	a.unstorableLog.event("id", d.id, "seq", d.seq, "parts", len(errs), "error", boundedError(errs[0]))
}

// boundedError is err's text cut to 512 bytes, for logs and bodies.
func boundedError(err error) string {
	const maxLen = 512
	s := err.Error()
	if len(s) > maxLen {
		s = strings.ToValidUTF8(s[:maxLen], "") + "..."
	}
	return s
}

// hold keeps d (the heartbeat sends InProgress for it) and publishes parts
// again after retryDelay. JetStream counts a NakWithDelay as a delivery, so
// naking on a results outage would dead-letter valid applications after
// max_deliver × nak_delay; holding spends nothing, and the held messages
// fill MaxAckPending, which stops consumption until the path is back.
// Past the drain deadline or at a hard stop d is nak'ed instead, for
// another worker.
func (a *Async) hold(d *delivery, parts []*nats.Msg, cause error) {
	if d.settled.Load() {
		return // Settle gave up on it and nak'ed it meanwhile
	}
	if d.held.CompareAndSwap(false, true) {
		a.p.Metrics.HeldMessages.Set(float64(a.held.Add(1)))
	}
	delay := retryDelay(a.p.Config.NakDelay, d.attempts)
	a.outage.fail(a.p.Log, cause, "held", a.held.Load(), "retry_after", delay.Round(time.Millisecond))
	a.p.Log.Debug("publish failed; held for a retry", "id", d.id, "attempt", d.attempts+1, "error", cause)
	if a.ctx.Err() != nil || a.shed.Load() {
		a.settle(d, actNakNow, cause)
		return
	}
	d.attempts++
	a.retryMu.Lock()
	a.retries = append(a.retries, retryRound{d: d, parts: parts, due: time.Now().Add(delay)})
	a.retryMu.Unlock()
}

// retryRound is a held message's next attempt.
type retryRound struct {
	d     *delivery
	parts []*nats.Msg
	due   time.Time
}

// retryTick is how often retrier looks for due rounds.
const retryTick = 20 * time.Millisecond

// retrier runs the held messages' retry rounds when they are due, and every
// round at once when a publish has just succeeded after failures: the
// results path is back, and the held messages need not wait out their
// backoff. It returns when Settle ends.
func (a *Async) retrier() {
	tick := time.NewTicker(retryTick)
	defer tick.Stop()
	var due []retryRound
	for {
		all := false
		select {
		case <-a.stop:
			return
		case <-tick.C:
		case <-a.recovered:
			all = true
		}
		now := time.Now()
		a.retryMu.Lock()
		keep := a.retries[:0]
		for _, r := range a.retries {
			if all || !now.Before(r.due) {
				due = append(due, r)
			} else {
				keep = append(keep, r)
			}
		}
		clear(a.retries[len(keep):])
		a.retries = keep
		a.retryMu.Unlock()
		for i, r := range due {
			a.republish(r.d, r.parts)
			due[i] = retryRound{}
		}
		due = due[:0]
	}
}

// republish is one retry round of hold.
func (a *Async) republish(d *delivery, parts []*nats.Msg) {
	if d.settled.Load() {
		return
	}
	if a.ctx.Err() != nil || a.shed.Load() {
		a.settle(d, actNakNow, errors.New("stopping with the publish still failing"))
		return
	}
	a.p.Metrics.PublishRetries.Add(float64(len(parts)))
	d.remaining.Store(int32(len(parts)))
	for _, part := range parts {
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

// settle acks, terms or naks d once; it reports whether this call did.
func (a *Async) settle(d *delivery, act action, cause error) bool {
	if !d.settled.CompareAndSwap(false, true) {
		return false
	}
	a.untrack(d)
	if d.held.Load() {
		a.p.Metrics.HeldMessages.Set(float64(a.held.Add(-1)))
	}
	var err error
	outcome := ""
	switch act {
	case actAck:
		// Ack, not AckSync: the result is already stored; if this ack is
		// lost the redelivery's result is dropped as a duplicate by its
		// Nats-Msg-Id, so waiting for the ack's confirmation would only
		// halve throughput.
		err = d.msg.Ack()
		outcome = metrics.OutcomeScored
		a.latency.Observe(time.Since(d.received).Seconds())
	case actTerm:
		err = d.msg.Term()
		outcome = OutcomeTerm
	case actNakDelay:
		err = d.msg.NakWithDelay(a.p.Config.NakDelay)
		outcome = OutcomeNak
	case actNakNow:
		err = d.msg.Nak()
		outcome = OutcomeNak
	}
	a.count[outcome].Inc()
	if err != nil {
		a.p.Log.Warn("settle message", "id", d.id, "outcome", outcome, "error", err)
	} else if cause != nil {
		a.p.Log.Debug("message nak'ed", "id", d.id, "cause", cause)
	}
	return true
}

func (a *Async) track(d *delivery) {
	a.mu.Lock()
	a.inflight[d] = struct{}{}
	a.mu.Unlock()
}

func (a *Async) untrack(d *delivery) {
	a.mu.Lock()
	delete(a.inflight, d)
	a.mu.Unlock()
}

func (a *Async) snapshot() []*delivery {
	a.mu.Lock()
	defer a.mu.Unlock()
	ds := make([]*delivery, 0, len(a.inflight))
	for d := range a.inflight {
		ds = append(ds, d)
	}
	return ds
}

// heartbeat sends InProgress for messages held longer than a third of the
// ack wait, so a slow batch or a stalled publish is not redelivered to
// another worker meanwhile.
func (a *Async) heartbeat() {
	every := pollInterval(a.p.Config)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-a.stop:
			return
		case now := <-tick.C:
			for _, d := range a.snapshot() {
				if now.Sub(d.received) >= every && !d.settled.Load() {
					_ = d.msg.InProgress()
				}
			}
		}
	}
}
