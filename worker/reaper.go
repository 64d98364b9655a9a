package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/sink"
)

// AdvisoryQueue is the queue group every scorer process joins for the
// max-deliveries advisory, so exactly one of them handles each.
const AdvisoryQueue = "scorer-max-deliveries"

// CodeMaxDeliveries is the dead letter's Error-Code for a message whose
// every delivery timed out.
const CodeMaxDeliveries = "max_deliveries"

// maxDeliveriesAdvisory is the part of JetStream's
// io.nats.jetstream.advisory.v1.max_deliver event the scorer reads.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// Reaper handles max-deliveries advisories: JetStream never delivers such
// a message again, so the scorer fetches it by sequence, publishes an error
// result (code "timeout") and a dead letter (Error-Code "max_deliveries"),
// and deletes it from the input stream. The advisory comes once, so a reap
// that fails (results or dead-letter stream unavailable) is retried, with
// backoff, until it succeeds or the Reaper is closed.
type Reaper struct {
	js         jetstream.JetStream
	pub        *sink.Publisher
	stream     jetstream.Stream
	maxPayload int64
	maxID      int
	m          *metrics.Metrics
	log        *slog.Logger
	sub        *nats.Subscription

	ctx     context.Context // ends at Stop: reaps still failing give up
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stop    sync.Once
	stopped chan struct{} // closed when Stop has finished
}

// reapRetryMax bounds the wait between two attempts at one reap.
const reapRetryMax = 10 * time.Second

// ListenMaxDeliveries subscribes nc, in queue group AdvisoryQueue, to the
// consumer's max-deliveries advisory. maxID is limits.max_id (see
// ingest.ResultID). Run it, and Stop it before nc drains.
func ListenMaxDeliveries(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, t ingest.Topology, pub *sink.Publisher, maxID int, m *metrics.Metrics, log *slog.Logger) (*Reaper, error) {
	stream, err := js.Stream(ctx, t.Stream.Name)
	if err != nil {
		return nil, fmt.Errorf("advisories: stream %s: %w", t.Stream.Name, err)
	}
	if m == nil {
		m = metrics.New(nil)
	}
	if maxID <= 0 {
		maxID = ingest.DefaultMaxID
	}
	r := &Reaper{js: js, pub: pub, stream: stream, maxPayload: nc.MaxPayload(), maxID: maxID, m: m, log: log, stopped: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	subject := ingest.MaxDeliveriesSubject(t.Stream.Name, t.Consumer.Name)
	r.sub, err = nc.QueueSubscribe(subject, AdvisoryQueue, r.handle)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	return r, nil
}

// Run returns once Stop has finished: the reaper works on the
// subscription's goroutine and goroutines of its own, and has no failure
// of its own to report.
func (r *Reaper) Run(ctx context.Context) error {
	select {
	case <-r.stopped:
	case <-ctx.Done():
	}
	return nil
}

// Stop unsubscribes, stops the reaps still retrying (each logs the
// message it leaves in the stream) and waits for them.
func (r *Reaper) Stop(context.Context) error {
	var err error
	r.stop.Do(func() {
		err = r.sub.Unsubscribe()
		r.cancel()
		r.wg.Wait()
		close(r.stopped)
	})
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		return fmt.Errorf("unsubscribe from advisories: %w", err)
	}
	return nil
}

func (r *Reaper) handle(msg *nats.Msg) {
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(msg.Data, &adv); err != nil || adv.StreamSeq == 0 {
		r.log.Warn("unreadable max-deliveries advisory", "error", err)
		return
	}
	// Off the subscription's goroutine: a reap may retry for as long as
	// an outage lasts, and later advisories must not wait behind it.
	r.wg.Go(func() { r.reapUntilDone(adv) })
}

// reapUntilDone reaps adv, retrying failures after 0.5 s doubling up to
// reapRetryMax, until it succeeds or the Reaper closes.
func (r *Reaper) reapUntilDone(adv maxDeliveriesAdvisory) {
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := r.reap(adv)
		if err == nil {
			if attempt > 1 {
				r.log.Info("reaped after retries", "stream", adv.Stream, "seq", adv.StreamSeq, "attempts", attempt)
			}
			return
		}
		if attempt == 1 {
			r.log.Warn("could not dead-letter a message past max deliveries; retrying until it can",
				"stream", adv.Stream, "seq", adv.StreamSeq, "error", err)
		}
		select {
		case <-r.ctx.Done():
			r.log.Error("stopping with a message past max deliveries not dead-lettered; it stays in the stream",
				"stream", adv.Stream, "seq", adv.StreamSeq, "attempts", attempt, "error", err)
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, reapRetryMax)
	}
}

func (r *Reaper) reap(adv maxDeliveriesAdvisory) error {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	raw, err := r.stream.GetMsg(ctx, adv.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // acked late, or another process already reaped it
	}
	if err != nil {
		return fmt.Errorf("get %s seq %d: %w", adv.Stream, adv.StreamSeq, err)
	}
	id, refused := ingest.ResultID(raw.Header.Get(ingest.HeaderMsgID), adv.Stream, adv.StreamSeq, r.maxID)
	refusedID := ""
	if refused != nil {
		refusedID = raw.Header.Get(ingest.HeaderMsgID)
	}
	reason := fmt.Sprintf("not acknowledged after %d deliveries", adv.Deliveries)
	now := time.Now()
	body := sink.AppendError(nil, id, ingest.CodeTimeout, reason, nil)
	res := r.pub.ResultMsg(body, sink.Meta{ID: id, ErrorCode: ingest.CodeTimeout, From: raw.Header}, now)
	dl := r.pub.DeadLetterMsg(sink.DeadLetter{
		ID: id, Code: CodeMaxDeliveries, Error: reason, Subject: raw.Subject, Sequence: adv.StreamSeq,
		Payload: raw.Data, Header: raw.Header, RefusedID: refusedID,
	}, r.maxPayload, now)
	for _, part := range []struct {
		what string
		msg  *nats.Msg
	}{{"timeout result", res}, {"dead letter", dl}} {
		err := r.pub.Store(ctx, part.msg)
		switch {
		case errors.Is(err, sink.ErrUnstorable):
			// Retrying cannot help: the message is deleted all the same,
			// or it would be retried for ever.
			r.m.UnstorableTotal.Inc()
			r.log.Warn("gave up storing a "+part.what+" that can never be stored", "id", id, "seq", adv.StreamSeq, "error", boundedError(err))
		case err != nil:
			return fmt.Errorf("store the %s of %s: %w", part.what, id, err)
		}
	}
	if err := r.stream.DeleteMsg(ctx, adv.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("delete %s seq %d: %w", adv.Stream, adv.StreamSeq, err)
	}
	r.m.MessagesTotal.WithLabelValues(metrics.OutcomeTimeout).Inc()
	r.m.DeadLettersTotal.Inc()
	r.log.Warn("dead-lettered a message past max deliveries", "id", id, "seq", adv.StreamSeq, "deliveries", adv.Deliveries)
	return nil
}
