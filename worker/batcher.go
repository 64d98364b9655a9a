package worker

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// Batcher is the process's micro-batcher. Create it with NewBatcher, start
// Run once, feed it with Submit and TrySubmit, stop it with Stop (or Close:
// soft, what is queued is still scored) or by cancelling Run's context
// (hard).
//
// A batch closes when it holds Config.MaxSize rows, when Config.MaxWait has
// passed since it took its first job, or at once when no other job is
// waiting and a scoring goroutine is free, so a lone request pays no wait.
// A job for a different *Model than the open batch closes the batch first;
// a job that does not fit the open batch's remaining room starts the next.
type Batcher struct {
	cfg     Config
	workers int
	m       *metrics.Metrics
	notes   noter // reasons and unseen values (notes.go)

	queue   chan *ingest.Job
	closing chan struct{}

	mu      sync.RWMutex // guards closed against senders.Add
	closed  bool
	senders sync.WaitGroup // Submit/TrySubmit calls that may still send to queue
	running atomic.Bool

	// halt ends (haltFunc) at Stop's hard stop; it ends Run's context.
	halt     context.Context
	haltFunc context.CancelFunc
	done     chan struct{} // closed when Run has returned
}

// NewBatcher returns a batcher with the policy cfg (which must be valid) and
// workers scoring goroutines (0 or less means runtime.GOMAXPROCS(0)). m
// receives BatchSize, BatchWait, ScoreSeconds, InFlight and UnseenTotal; a
// nil m records into unregistered collectors. Each scored job also gets
// its rows' notes (ingest.Job.Notes: reasons when it asked, unseen
// values), computed in the batch that scored them (notes.go).
func NewBatcher(cfg Config, workers int, m *metrics.Metrics, opts ...BatcherOption) *Batcher {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if m == nil {
		m = metrics.New(nil)
	}
	b := &Batcher{
		cfg:     cfg,
		workers: workers,
		m:       m,
		queue:   make(chan *ingest.Job, cfg.Queue),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	b.notes.m = m
	for _, o := range opts {
		o(b)
	}
	b.halt, b.haltFunc = context.WithCancel(context.Background())
	return b
}

// Submit queues j, waiting for room while the queue is full: the async path's
// backpressure. It returns ErrClosed after Close, ctx's error (wrapped) when
// ctx ends first, or ErrBadJob (wrapped) for a malformed job. On a nil return
// j.Done will be called exactly once; otherwise it will not be called.
func (b *Batcher) Submit(ctx context.Context, j *ingest.Job) error {
	return b.submit(ctx, j, true)
}

// TrySubmit queues j or fails at once with ErrOverloaded when the queue is
// full (sync and HTTP answer 503). Otherwise it behaves like Submit.
func (b *Batcher) TrySubmit(j *ingest.Job) error {
	return b.submit(context.Background(), j, false)
}

func (b *Batcher) submit(ctx context.Context, j *ingest.Job, wait bool) error {
	if err := checkJob(j); err != nil {
		return err
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	b.senders.Add(1)
	b.mu.RUnlock()
	defer b.senders.Done()

	j.Enqueued = time.Now()
	rows := float64(j.Rows.Rows)
	b.m.InFlight.Add(rows)
	select {
	case b.queue <- j:
		return nil
	default:
	}
	if !wait {
		b.m.InFlight.Sub(rows)
		return ErrOverloaded
	}
	select {
	case b.queue <- j:
		return nil
	case <-b.closing:
		b.m.InFlight.Sub(rows)
		return ErrClosed
	case <-ctx.Done():
		b.m.InFlight.Sub(rows)
		return fmt.Errorf("submit job: %w", ctx.Err())
	}
}

func checkJob(j *ingest.Job) error {
	switch {
	case j == nil:
		return fmt.Errorf("%w: nil job", ErrBadJob)
	case j.Model == nil || j.Model.Model == nil:
		return fmt.Errorf("%w: no model", ErrBadJob)
	case j.Done == nil:
		return fmt.Errorf("%w: no Done callback", ErrBadJob)
	case j.Rows == nil || j.Rows.Rows < 1:
		return fmt.Errorf("%w: no rows", ErrBadJob)
	}
	if err := j.Rows.Check(j.Model.Schema()); err != nil {
		return fmt.Errorf("%w: %w", ErrBadJob, err)
	}
	return nil
}

// Close stops accepting jobs; Run scores everything already queued, then
// returns. Close is idempotent and does not wait.
func (b *Batcher) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	close(b.closing)
	// The queue is closed once no Submit can send to it any more, which
	// tells the collector that what it drains is all there is.
	go func() {
		b.senders.Wait()
		close(b.queue)
	}()
}

// Stop closes the batcher (Close) and waits until Run has scored everything
// queued and returned. When ctx ends first it stops hard (as when Run's
// context ends: the jobs not yet scored fail with ErrClosed), waits for
// Run, and returns an error saying so.
func (b *Batcher) Stop(ctx context.Context) error {
	b.Close()
	if !b.running.Load() {
		return nil
	}
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
	}
	b.haltFunc()
	<-b.done
	return fmt.Errorf("batcher: stopped before scoring every job: %w", ctx.Err())
}

// Run gathers and scores batches until Close was called and every queued
// job is done (it then returns nil), or until ctx ends (hard stop: batches
// being scored finish, every job not yet scored gets Err wrapping ErrClosed
// and its Done call, and Run returns ctx's error). Call Run once.
func (b *Batcher) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("worker: Batcher.Run called twice")
	}
	defer close(b.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.halt, cancel)()
	ready := make(chan *batch) // unbuffered: a batch leaves only to a free scorer
	free := make(chan *batch, b.workers+1)
	for range b.workers + 1 {
		free <- &batch{}
	}
	var wg sync.WaitGroup
	for range b.workers {
		wg.Go(func() {
			for bt := range ready {
				b.score(bt)
				free <- bt
			}
		})
	}
	err := b.collect(ctx, ready, free)
	close(ready)
	wg.Wait()
	if b.halt.Err() != nil {
		return nil // Stop stopped it hard, and says so
	}
	return err
}

// collect is the single goroutine that forms batches.
func (b *Batcher) collect(ctx context.Context, ready chan<- *batch, free <-chan *batch) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var carry *ingest.Job // a job that did not fit the previous batch
	for {
		j := carry
		carry = nil
		if j == nil {
			var ok bool
			select {
			case j, ok = <-b.queue:
				if !ok {
					return nil
				}
			case <-ctx.Done():
				return b.abort(ctx, nil, nil)
			}
		}
		var bt *batch
		select {
		case bt = <-free:
		case <-ctx.Done():
			return b.abort(ctx, nil, j)
		}
		bt.start(j)
		timer.Reset(b.cfg.MaxWait)
		queueOpen := true

	fill:
		for bt.rows.Rows < b.cfg.MaxSize {
			// Take what is already waiting, unless the batch is due.
			var next *ingest.Job
			var ok bool
			select {
			case next, ok = <-b.queue:
			case <-timer.C:
				break fill
			default:
				// Nothing waiting: hand the batch over now if a scorer is
				// free, else keep collecting until it is due.
				select {
				case ready <- bt:
					bt = nil
					break fill
				case next, ok = <-b.queue:
				case <-timer.C:
					break fill
				case <-ctx.Done():
					return b.abort(ctx, bt, nil)
				}
			}
			if !ok {
				queueOpen = false
				break fill
			}
			if !bt.fits(next, b.cfg.MaxSize) {
				carry = next
				break fill
			}
			bt.add(next)
		}
		timer.Stop()
		if bt != nil {
			select {
			case ready <- bt:
			case <-ctx.Done():
				return b.abort(ctx, bt, carry)
			}
		}
		if !queueOpen {
			return nil
		}
	}
}

// abort fails every job that has not been handed to a scorer: those of the
// open batch, the carried job and everything still queued or yet to be
// submitted before the queue closes.
func (b *Batcher) abort(ctx context.Context, bt *batch, carry *ingest.Job) error {
	err := fmt.Errorf("%w: stopped before scoring: %w", ErrClosed, ctx.Err())
	fail := func(j *ingest.Job) {
		j.Err = err
		b.m.InFlight.Sub(float64(j.Rows.Rows))
		j.Done(j)
	}
	if bt != nil {
		for _, j := range bt.jobs {
			fail(j)
		}
		bt.reset()
	}
	if carry != nil {
		fail(carry)
	}
	b.Close()
	for j := range b.queue {
		fail(j)
	}
	return ctx.Err()
}

// score runs one Predict call for bt and completes its jobs.
func (b *Batcher) score(bt *batch) {
	start := time.Now()
	rows := bt.rows.Rows
	b.m.BatchWait.Observe(start.Sub(bt.first).Seconds())
	b.m.BatchSize.Observe(float64(rows))
	w := bt.model.Width()
	need := rows * w
	if cap(bt.out) < need {
		bt.out = make([]float64, need)
	}
	out := bt.out[:need]
	err := predict(bt.model, &bt.rows, out)
	b.m.ScoreSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		err = fmt.Errorf("score batch of %d rows with model %s: %w", rows, bt.model.Version, err)
	} else {
		b.note(bt)
	}
	off, row := 0, 0
	for _, j := range bt.jobs {
		n := j.Rows.Rows * w
		if err != nil {
			j.Err = err
		} else {
			j.Out = append(j.Out[:0], out[off:off+n]...)
			j.Notes = j.Notes[:0]
			if len(bt.notes) > 0 {
				j.Notes = append(j.Notes, bt.notes[row:row+j.Rows.Rows]...)
			}
		}
		off += n
		row += j.Rows.Rows
		b.m.InFlight.Sub(float64(j.Rows.Rows))
		j.Done(j)
	}
	bt.reset()
}

// predict calls the backend, turning a panic into an error so that one bad
// batch fails its jobs instead of the process.
func predict(m *model.Loaded, rows *model.Batch, out []float64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("model panicked: %v", r)
		}
	}()
	return m.Predict(rows, m.Prediction, out)
}

// batch is a reusable set of jobs scored together by one Predict call.
type batch struct {
	model *model.Loaded
	rows  model.Batch
	out   []float64
	jobs  []*ingest.Job
	first time.Time // Enqueued of the first job
	// want and notes are per row: the reasons asked, the notes (notes.go);
	// none is a row of zero wants, for a model the mapping does not fit.
	want  []int
	none  []int
	notes []reason.Note
}

func (bt *batch) start(j *ingest.Job) {
	s := j.Model.Schema()
	bt.model = j.Model
	bt.rows.NumFloat, bt.rows.NumCat = s.NumFloat, s.NumCat
	bt.first = j.Enqueued
	bt.add(j)
}

func (bt *batch) fits(j *ingest.Job, maxRows int) bool {
	return j.Model == bt.model && bt.rows.Rows+j.Rows.Rows <= maxRows
}

func (bt *batch) add(j *ingest.Job) {
	bt.rows.Floats = append(bt.rows.Floats, j.Rows.Floats...)
	bt.rows.Cats = append(bt.rows.Cats, j.Rows.Cats...)
	bt.rows.Rows += j.Rows.Rows
	bt.jobs = append(bt.jobs, j)
}

func (bt *batch) reset() {
	clear(bt.notes) // drop the references into the rows
	bt.notes = bt.notes[:0]
	bt.rows.Reset()
	clear(bt.jobs)
	bt.jobs = bt.jobs[:0]
	bt.model = nil
}
