package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/internal/ratelog"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
	"github.com/loan-scorer/loan-scorer/sink"
)

// AsyncParams are what the async path is built from.
type AsyncParams struct {
	// Fetcher yields the durable consumer's messages (ingest.NewFetcher).
	Fetcher *ingest.Fetcher
	// Config is the consumer's configuration: the nak delay, and the ack
	// wait that InProgress must beat.
	Config ingest.ConsumerConfig
	// Reply says which Reply-To subjects get a copy of the result.
	Reply ingest.ReplyConfig
	// Models holds the current model; each message is decoded and scored
	// against the one loaded when it arrives.
	Models   *model.Holder
	Decoders func(*model.Loaded) *ingest.Decoder
	Batcher  *Batcher
	// Publisher publishes results and dead letters; MaxPayload is the
	// server's message size limit, for truncating dead letters.
	Publisher  *sink.Publisher
	MaxPayload int64
	// MaxID is limits.max_id: the longest Nats-Msg-Id taken as a result id
	// (see ingest.ResultID); 0 means ingest.DefaultMaxID.
	MaxID int
	// Explain is explain.top_k: the reasons a message gets when it has no
	// Explain header (0: none), at most the model's feature count.
	Explain int
	Metrics *metrics.Metrics
	Log     *slog.Logger
}

// Async is the delivery policy of the async path, the guarantee of
// DESIGN.md's "Delivery guarantees": a message is acknowledged only once
// its result is stored. For each delivery, in order:
//
//  1. decode it against the current model (ingest.Decoder); a refused id,
//     a Reply-To outside reply.allow or bad input gets an error result
//     and a dead letter, then Term;
//  2. hand its row to the batcher (waiting for room: backpressure);
//  3. publish the result to the results stream (and a best-effort copy to
//     an allowed Reply-To);
//  4. once JetStream has stored it (or found it stored already: results
//     are stored once per id), Ack.
//
// A publish that fails for a reason that may pass (results stream full,
// no quorum, broker away) holds the message: it stays unacknowledged and
// gets InProgress, and only the failed part is published again after
// consumer.nak_delay, doubling up to eight times, or at once when a
// publish succeeds again (hold.go). Holding spends none of the message's
// deliveries (max_deliver), and held messages fill max_ack_pending, which
// stops consumption until the results path is back. A publish JetStream
// will refuse forever (sink.ErrUnstorable) is never held: a result that
// cannot be stored is replaced by an error result (code unstorable) and a
// dead letter, and an error result or dead letter that cannot be stored is
// given up with a rate-limited warning; the message is then termed. A
// failure to decode or score for another reason is nak'ed after
// nak_delay.
//
// Lifecycle: Run serves until Stop, which drains the fetcher and settles
// every message in flight; the batcher must keep running until Stop
// returns.
type Async struct {
	p AsyncParams

	// ctx ends the waits for room in the batcher (a message then naks):
	// when Run's context ends, or at Stop's deadline.
	ctx     context.Context
	cancel  context.CancelFunc
	started atomic.Bool
	quit    chan struct{} // stops the heartbeat and the retrier
	stopped chan struct{} // closed when Stop has finished
	stop    sync.Once
	bg      sync.WaitGroup // heartbeat and retrier

	unstorableLog *ratelog.Limiter // parts given up as unstorable
	outage        *ratelog.Outage  // result publishes failing

	mu       sync.Mutex
	inflight map[*delivery]struct{}
	emptied  chan struct{} // closed when inflight becomes empty; nil when nobody waits

	held    atomic.Int64 // messages whose publish is being retried
	retries *retryQueue

	// Collectors resolved once: a label lookup per message adds up.
	count   map[string]prometheus.Counter // messages finished, by outcome
	settled map[action]prometheus.Counter // deliveries, by how they were settled
	latency prometheus.Observer

	rows sync.Pool // *model.Batch of one row, reused once its job is done
}

// NewAsync checks p and returns the async path, not yet running.
func NewAsync(p AsyncParams) (*Async, error) {
	if p.Fetcher == nil || p.Models == nil || p.Decoders == nil || p.Batcher == nil || p.Publisher == nil {
		return nil, errors.New("worker: NewAsync needs a fetcher, models, decoders, a batcher and a publisher")
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
		p.MaxID = ingest.DefaultMaxID
	}
	a := &Async{p: p, quit: make(chan struct{}), stopped: make(chan struct{}), inflight: make(map[*delivery]struct{}),
		count:   map[string]prometheus.Counter{},
		settled: map[action]prometheus.Counter{},
		outage:  ratelog.NewOutage("result publish", "holding messages and retrying, nothing is nak'ed"),
		retries: newRetryQueue(),
		unstorableLog: ratelog.NewLimiter(p.Log, slog.LevelWarn,
			"gave up storing an error result or dead letter that can never be stored; the message is terminated", ratelog.OutageEvery)}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	for _, o := range []string{metrics.OutcomeScored, metrics.OutcomeInvalid, metrics.OutcomeUnstorable} {
		a.count[o] = p.Metrics.MessagesTotal.WithLabelValues(o)
	}
	for act, label := range map[action]string{actAck: metrics.ActionAck, actTerm: metrics.ActionTerm,
		actNakDelay: metrics.ActionNak, actNakNow: metrics.ActionNak} {
		a.settled[act] = p.Metrics.DeliveriesTotal.WithLabelValues(label)
	}
	a.latency = p.Metrics.EndToEndSeconds.WithLabelValues(metrics.PathAsync)
	return a, nil
}

// Run consumes until Stop has settled every message, then returns nil; it
// returns an error at once when the consumer fails for good (deleted).
// When ctx ends, a message waiting for room in the batcher is nak'ed
// instead (hard stop). Call Run once.
func (a *Async) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("worker: Async.Run called twice")
	}
	defer context.AfterFunc(ctx, a.cancel)()
	a.bg.Go(a.heartbeat)
	a.bg.Go(func() { a.retries.run(a.quit, a.republish) })
	if err := a.p.Fetcher.Run(a.handle); err != nil {
		return fmt.Errorf("async consumer %s: %w", a.p.Config.Name, err)
	}
	select { // drained: Stop settles what is in flight
	case <-a.stopped:
	case <-ctx.Done():
	}
	return nil
}

// Stop drains the consumer (no new fetches; every message delivered
// reaches the batcher) and waits until every message is acked, termed or
// nak'ed. When ctx ends first, messages still arriving and those waiting
// for room in the batcher are nak'ed without scoring, the ones still in
// flight are nak'ed (without delay, so another worker takes them at once),
// and Stop returns an error saying so. Run returns once Stop has.
func (a *Async) Stop(ctx context.Context) error {
	var errs []error
	a.stop.Do(func() {
		halt := context.AfterFunc(ctx, a.cancel)
		defer halt()
		if err := a.p.Fetcher.Drain(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := a.settleAll(ctx); err != nil {
			errs = append(errs, err)
		}
		close(a.quit)
		a.bg.Wait()
		close(a.stopped)
	})
	return errors.Join(errs...)
}

// settleAll waits until every received message is settled; when ctx ends
// first, it naks the messages still in flight and says how many.
func (a *Async) settleAll(ctx context.Context) error {
	for {
		a.mu.Lock()
		if len(a.inflight) == 0 {
			a.mu.Unlock()
			return nil
		}
		if a.emptied == nil {
			a.emptied = make(chan struct{})
		}
		emptied := a.emptied
		a.mu.Unlock()
		select {
		case <-emptied:
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

func (a action) String() string {
	switch a {
	case actAck:
		return "ack"
	case actTerm:
		return "term"
	case actNakDelay, actNakNow:
		return "nak"
	}
	return "none"
}

// delivery is one input message on its way through the policy.
type delivery struct {
	ingest.Delivery
	id string
	// refusedID is the message's Nats-Msg-Id when it was refused as the
	// result id (id is then made up); it goes into the dead letter.
	refusedID string
	replyTo   string
	model     string // version of the model that judged the input
	job       ingest.Job
	out       [1]float64     // job.Out's storage for a one-value model
	notes     [1]reason.Note // job.Notes' storage

	// outcome is what the message counts as once it is finished (acked or
	// termed): metrics.OutcomeScored, OutcomeInvalid or OutcomeUnstorable.
	outcome string

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

// handle is step 1 and 2: decode the delivery and hand it to the batcher.
func (a *Async) handle(in ingest.Delivery) {
	id, refused := ingest.ResultID(in.Header.Get(ingest.HeaderMsgID), in.Stream, in.Seq, a.p.MaxID)
	m := a.p.Models.Load()
	d := &delivery{Delivery: in, id: id, model: m.Version}
	a.track(d)
	if refused != nil {
		d.refusedID = in.Header.Get(ingest.HeaderMsgID)
		a.reject(d, refused.(*ingest.InputError))
		return
	}
	if rt := in.Header.Get(ingest.HeaderReplyTo); rt != "" {
		if err := a.p.Reply.Check(rt); err != nil {
			a.reject(d, &ingest.InputError{Code: ingest.CodeInvalidInput, Message: err.Error(),
				Fields: map[string]string{ingest.HeaderReplyTo: "not_allowed"}})
			return
		}
		d.replyTo = rt
	}
	explain, err := a.explain(in.Header, m.Schema())
	if err != nil {
		a.reject(d, err.(*ingest.InputError))
		return
	}
	rows := a.getRows(m.Schema())
	if err := a.p.Decoders(m).DecodeOne(in.Data, rows); err != nil {
		a.putRows(rows)
		var bad *ingest.InputError
		if errors.As(err, &bad) {
			a.reject(d, bad)
			return
		}
		a.p.Log.Error("decode", "id", id, "error", err)
		a.settle(d, actNakDelay, err)
		return
	}
	d.outcome = metrics.OutcomeScored
	d.job = ingest.Job{Model: m, Rows: rows, Out: d.out[:0], Explain: explain, Notes: d.notes[:0],
		Done: func(j *ingest.Job) { a.scored(d, j) }}
	if err := a.p.Batcher.Submit(a.ctx, &d.job); err != nil {
		// Shutting down: let another worker take it now.
		a.putRows(rows)
		a.settle(d, actNakNow, err)
	}
}

// explain returns the reasons a message asks for: its Explain header, else
// explain.top_k (at most the model's feature count). A bad header is an
// *ingest.InputError.
func (a *Async) explain(h nats.Header, s *model.Schema) (int, error) {
	if v := h.Get(ingest.HeaderExplain); v != "" {
		return ingest.ParseExplain(ingest.HeaderExplain, v, s)
	}
	return min(a.p.Explain, reason.MaxK(s)), nil
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

// scored is step 3: it runs on a batcher goroutine once d's row is scored.
func (a *Async) scored(d *delivery, j *ingest.Job) {
	a.putRows(j.Rows)
	j.Rows = nil
	if errors.Is(j.Err, ErrClosed) {
		a.settle(d, actNakNow, j.Err) // hard stop: another worker takes it now
		return
	}
	if j.Err != nil {
		a.p.Log.Error("score", "id", d.id, "error", j.Err)
		a.settle(d, actNakDelay, j.Err)
		return
	}
	res := a.p.Publisher.Scored(j.Model, j.Out, ingest.NoteOf(j.Notes, 0), sink.Meta{ID: d.id, Model: j.Model.Version, From: d.Header}, time.Now())
	d.final = actAck
	d.remaining.Store(1)
	a.replyCopy(d, &res.Msg)
	done := func(err error) { a.published(d, &res.Msg, err) }
	if err := a.p.Publisher.PublishScored(res, done); err != nil {
		done(err)
	}
}

// reject answers bad input: an error result, a dead letter, then Term.
func (a *Async) reject(d *delivery, in *ingest.InputError) {
	d.outcome = metrics.OutcomeInvalid
	a.giveUp(d, in)
}

// giveUp publishes the error result and the dead letter of d for the
// error e, then terms d.
func (a *Async) giveUp(d *delivery, e *ingest.InputError) {
	now := time.Now()
	body := sink.AppendError(make([]byte, 0, 256), d.id, e.Code, e.Message, e.Fields)
	res := a.p.Publisher.ResultMsg(body, sink.Meta{ID: d.id, Model: d.model, ErrorCode: e.Code, From: d.Header}, now)
	dl := a.p.Publisher.DeadLetterMsg(sink.DeadLetter{
		ID: d.id, Code: e.Code, Error: e.Message, Subject: d.Subject, Sequence: d.Seq,
		Payload: d.Data, Header: d.Header, RefusedID: d.refusedID,
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

// send publishes one part of d's outcome (result or dead letter: the
// publisher publishes either to its own subject) and reports to published.
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

// published is step 4: it records the outcome of publishing part. Once
// every part of d has its outcome, d is settled with its final action, or
// held for another round when a part failed for a reason that may pass. A
// part that can never be stored is not retried: a scored result is
// replaced by an error result and a dead letter (once), anything else is
// given up (unstorable).
func (a *Async) published(d *delivery, part *nats.Msg, err error) {
	if err == nil && part.Header.Get(sink.HeaderOriginalSubject) != "" {
		a.p.Metrics.DeadLettersTotal.Inc() // only dead letters carry it
	}
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
			d.outcome = metrics.OutcomeUnstorable
			a.giveUp(d, &ingest.InputError{Code: ingest.CodeUnstorable,
				Message: "the result could not be stored: " + boundedError(unstorable[0])})
			return
		}
		a.unstorableLog.Event("id", d.id, "seq", d.Seq, "parts", len(unstorable), "error", boundedError(unstorable[0]))
	}
	if len(parts) > 0 {
		a.hold(d, parts, cause)
		return
	}
	if a.outage.OK(a.p.Log) {
		a.retries.recovered() // the results path is back: every held message retries now
	}
	a.settle(d, d.final, nil)
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
	switch act {
	case actAck:
		// Ack, not AckSync: the result is already stored; if this ack is
		// lost the redelivery finds its result stored (once per id), so
		// waiting for the ack's confirmation would only halve throughput.
		err = d.Ack()
		a.latency.Observe(time.Since(d.Received).Seconds())
	case actTerm:
		err = d.Term()
	case actNakDelay:
		err = d.NakWithDelay(a.p.Config.NakDelay)
	case actNakNow:
		err = d.Nak()
	}
	a.settled[act].Inc()
	if act == actAck || act == actTerm {
		// Finished: counted once, as what it turned out to be (handle,
		// reject and published set the outcome before the final publish).
		if c := a.count[d.outcome]; c != nil {
			c.Inc()
		}
	}
	if err != nil {
		a.p.Log.Warn("settle message", "id", d.id, "action", act.String(), "error", err)
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
	if len(a.inflight) == 0 && a.emptied != nil {
		close(a.emptied)
		a.emptied = nil
	}
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
