package sink

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Pull timing of the sink's fetches.
const (
	// maxIdleWait bounds one fetch.
	maxIdleWait = 5 * time.Second
	// minFetchWait is the shortest fetch: a file due in less is committed
	// a little late rather than with a request the server could not serve.
	minFetchWait = 50 * time.Millisecond
	// minHeartbeat is the shortest idle heartbeat a fetch asks the server
	// for: fetches of at least 3×minHeartbeat ask for a third of their
	// wait, and end with jetstream.ErrNoHeartbeat after two missed
	// heartbeats (NATS lost, a stopped broker). Shorter fetches ask for
	// none, so a busy machine cannot make them fail spuriously; the idle
	// fetch that follows each commit notices a lost broker within seconds.
	minHeartbeat = time.Second
	// ackTimeout bounds the acknowledgement after a commit.
	ackTimeout = 10 * time.Second
)

// loop is one run of the sink: the consumer of this run, the open file, and
// the consumer sequence that proves nothing was lost in between.
type loop struct {
	p    *Parquet
	cons jetstream.Consumer
	// next is the consumer sequence the next delivery must carry. A
	// consumer numbers its deliveries 1, 2, 3, ..., first deliveries and
	// redeliveries alike (nats-server consumer.deliverMsg increments it
	// once per message sent), so any other value means deliveries were
	// lost on the way, or the consumer was reset or rolled back.
	next      uint64
	committed uint64 // highest sequence in a committed file
	file      *openFile
	lastMsg   jetstream.Msg // last message in the open file
	// noted is set at the first result with notes: from then on files
	// have the note columns (parquet_notes.go).
	noted bool
}

func (l *loop) run(ctx context.Context) error {
	p := l.p
	for {
		if ctx.Err() != nil {
			return l.shutdown(ctx)
		}
		// One fetch waits at most maxIdleWait, so that its heartbeats
		// notice a lost broker within seconds even while a file is open.
		wait := maxIdleWait
		if l.file != nil {
			wait = min(wait, l.file.opened.Add(p.cfg.MaxAge).Sub(p.now()))
		}
		if wait > 0 {
			if err := l.fetch(ctx, max(wait, minFetchWait)); err != nil {
				// What the open file holds is delivered again at the next
				// start, which recreates the consumer after the committed
				// sequence.
				l.abandon()
				return fmt.Errorf("parquet sink: %w", err)
			}
		}
		if l.file != nil && !p.now().Before(l.file.opened.Add(p.cfg.MaxAge)) {
			if err := l.commit(ctx); err != nil {
				return fmt.Errorf("parquet sink: %w", err)
			}
		}
	}
}

// fetch pulls one batch of up to fetch_batch results, waiting at most wait,
// and hands each to handle. It uses Fetch, one request at a time, rather
// than Messages: a fetch's inbox is sized for its batch, so the client never
// drops one of its deliveries as a slow consumer, and a lost delivery shows
// as a jump of the consumer sequence at the next one. It returns nil when
// the batch ends (full, expired, ctx done, or the consumer recreated by a
// gap recovery) and an error when the pull fails.
func (l *loop) fetch(ctx context.Context, wait time.Duration) error {
	fctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	opts := []jetstream.FetchOpt{jetstream.FetchContext(fctx)}
	if hb := wait / 3; hb >= minHeartbeat {
		opts = append(opts, jetstream.FetchHeartbeat(hb))
	}
	batch, err := l.cons.Fetch(l.p.cfg.FetchBatch, opts...)
	if err != nil {
		return fmt.Errorf("pull from %s: %w", l.p.cfg.Stream, err)
	}
	for msg := range batch.Messages() {
		recreated, err := l.handle(ctx, msg)
		if err != nil {
			return err
		}
		if recreated {
			// The rest of this batch came from the consumer just deleted;
			// the new one delivers it again.
			return nil
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("pull from %s: %w", l.p.cfg.Stream, err)
	}
	return nil
}

// handle appends one message to the open file (opening one when needed),
// skips what is already written, and commits a full file. A delivery that
// does not follow on from the previous one starts a gap recovery instead;
// recreated then reports that the consumer was replaced.
func (l *loop) handle(ctx context.Context, msg jetstream.Msg) (recreated bool, err error) {
	meta, err := msg.Metadata()
	if err != nil {
		return false, fmt.Errorf("message metadata: %w", err)
	}
	seq, written := meta.Sequence.Stream, l.committed
	if l.file != nil {
		written = l.file.last
	}
	switch dseq := meta.Sequence.Consumer; {
	case dseq > l.next:
		return true, l.recoverGap(ctx, "deliveries lost on the way", "lost", dseq-l.next, "consumer_seq", dseq, "stream_seq", seq)
	case dseq < l.next:
		return true, l.recoverGap(ctx, "consumer sequence went back (consumer reset, or broker restarted with older consumer state)",
			"expected_consumer_seq", l.next, "consumer_seq", dseq, "stream_seq", seq)
	case meta.NumDelivered > 1 && seq > written:
		// Belt and braces: a redelivery of a result this run never
		// received means its first delivery was lost.
		return true, l.recoverGap(ctx, "redelivery of a result never received", "consumer_seq", dseq, "stream_seq", seq,
			"deliveries", meta.NumDelivered)
	}
	l.next++
	switch {
	case seq <= l.committed:
		// In a committed file already (a redelivery): acknowledging it
		// acknowledges only what is committed.
		if err := msg.Ack(); err != nil {
			return false, fmt.Errorf("ack committed seq %d: %w", seq, err)
		}
		return false, nil
	case seq <= written:
		return false, nil // redelivered while its file is open
	}
	// seq > written with every delivery accounted for: the stream holds
	// nothing in between (a gap in stream sequences is deleted or expired
	// messages, which no consumer delivers).
	h := msg.Headers()
	r := parseRecord(msg.Data(), h.Get(HeaderMsgID), h.Get(HeaderModel), h.Get(HeaderScoredAt), h.Get(HeaderErrorCode), meta.Timestamp)
	l.noted = l.noted || r.noted
	if l.file != nil && (r.hasValue && r.kind != l.file.kind || l.noted && !l.file.noted) {
		// The model changed kind (a reload), or results now carry
		// notes: a file has one schema.
		if err := l.commit(ctx); err != nil {
			return false, err
		}
	}
	if l.file == nil {
		f, err := createFile(l.p.dir, seq, r.kind, l.noted, l.p.wopts, l.p.now())
		if err != nil {
			return false, err
		}
		l.file = f
	}
	if err := l.file.w.write(&r); err != nil {
		return false, fmt.Errorf("seq %d: %w", seq, err)
	}
	l.file.last, l.lastMsg = seq, msg
	l.file.rows++
	if l.file.rows >= l.p.cfg.MaxRows {
		return false, l.commit(ctx)
	}
	return false, nil
}

// recoverGap is a gap recovery: it commits the open file, which holds only
// deliveries that followed on from the committed files, then recreates the
// consumer to deliver from the first sequence after it. Nothing past that
// sequence was acknowledged, so nothing is skipped.
func (l *loop) recoverGap(ctx context.Context, why string, attrs ...any) error {
	if err := l.commit(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil // stopping: the next start recreates the consumer anyway
	}
	cons, start, err := l.p.consumer(ctx, l.committed, false)
	if err != nil {
		return fmt.Errorf("gap recovery (%s): %w", why, err)
	}
	l.cons, l.next, l.committed = cons, 1, start-1
	n := l.p.recoveries.Add(1)
	if l.p.opts.Recovered != nil {
		l.p.opts.Recovered()
	}
	l.p.gapLog.warn(l.p.log, "parquet sink: gap recovery: "+why+"; committed what followed on, consumer recreated after it",
		append(attrs, "committed_seq", l.committed, "restart_seq", start, "gap_recoveries", n)...)
	return nil
}

// commit makes the open file durable, then acknowledges its messages.
func (l *loop) commit(ctx context.Context) error {
	f := l.file
	if f == nil {
		return nil
	}
	l.file = nil
	path, err := f.commit(l.p.dir, l.p.opts.Crash)
	if err != nil {
		return err
	}
	l.committed = f.last
	// The file is the record: a failed ack only means redeliveries, which
	// are skipped and acknowledged then (or at the next start). Without a
	// connection the ack would wait out its timeout in the reconnect
	// buffer, so it is not sent.
	if l.p.js.Conn().IsConnected() {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
		defer cancel()
		if err := l.lastMsg.DoubleAck(actx); err != nil {
			l.p.log.Warn("parquet sink: ack after commit failed; the results will be skipped when redelivered",
				"file", filepath.Base(path), "last_seq", f.last, "error", err)
		}
	} else {
		l.p.log.Debug("parquet sink: not connected, ack after commit skipped", "file", filepath.Base(path), "last_seq", f.last)
	}
	l.lastMsg = nil
	l.p.log.Debug("parquet file committed", "file", filepath.Base(path), "rows", f.rows, "first_seq", f.first, "last_seq", f.last)
	if l.p.opts.Committed != nil {
		l.p.opts.Committed(path, f.rows)
	}
	return nil
}

// shutdown commits the open file: on SIGTERM the sink closes its file.
func (l *loop) shutdown(ctx context.Context) error {
	if err := l.commit(ctx); err != nil {
		return fmt.Errorf("parquet sink: close the open file: %w", err)
	}
	return nil
}

func (l *loop) abandon() {
	if l.file != nil {
		l.file.abandon()
		l.file = nil
	}
}
