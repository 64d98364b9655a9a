package worker_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/worker"
)

// startBatcher runs b until the test ends and returns Run's result channel.
func startBatcher(t *testing.T, b *worker.Batcher) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		b.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
		}
		cancel()
	})
	return done
}

// waitDone waits for wg with a deadline.
func waitDone(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: not done within 20s", what)
	}
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

// TestBatcherMapsResultsBack is the property test: for batch sizes 1..N,
// one and several scorers, jobs of 1..k rows arriving in shuffled order from
// concurrent submitters, every job gets exactly the values the model gives
// its own rows scored alone, and Done exactly once.
func TestBatcherMapsResultsBack(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	cb, xgb := testModel(t), xgbModel(t)
	for _, maxSize := range []int{1, 2, 3, 5, 8, 13, 64, 256} {
		for _, workers := range []int{1, 3} {
			mdl := cb
			if maxSize == 5 {
				mdl = xgb // another backend, floats only
			}
			t.Run(fmt.Sprintf("%s/max_size=%d/workers=%d", mdl.Version, maxSize, workers), func(t *testing.T) {
				cfg := worker.Config{MaxSize: maxSize, MaxWait: time.Millisecond, Queue: 64}
				b := worker.NewBatcher(cfg, workers, nil)
				startBatcher(t, b)

				const jobs = 200
				type tracked struct {
					job   ingest.Job
					want  []float64
					calls atomic.Int32
				}
				all := make([]*tracked, jobs)
				var wg sync.WaitGroup
				for i := range all {
					k := 1 + rng.IntN(9) // 1..9 rows, sometimes more than maxSize
					rows := randomRows(rng, mdl.Schema(), k)
					tr := &tracked{want: predictAlone(t, mdl, rows)}
					tr.job = ingest.Job{Model: mdl, Rows: rows, Done: func(*ingest.Job) {
						tr.calls.Add(1)
						wg.Done()
					}}
					all[i] = tr
				}
				rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
				wg.Add(jobs)
				const submitters = 4
				var sub sync.WaitGroup
				for s := range submitters {
					sub.Go(func() {
						for i := s; i < jobs; i += submitters {
							if err := b.Submit(context.Background(), &all[i].job); err != nil {
								t.Errorf("submit: %v", err)
								wg.Done()
							}
						}
					})
				}
				sub.Wait()
				waitDone(t, &wg, "all jobs")
				for i, tr := range all {
					if n := tr.calls.Load(); n != 1 {
						t.Fatalf("job %d: Done called %d times", i, n)
					}
					if tr.job.Err != nil {
						t.Fatalf("job %d: %v", i, tr.job.Err)
					}
					if !sameFloats(tr.job.Out, tr.want) {
						t.Fatalf("job %d (%d rows): got %v, want %v", i, tr.job.Rows.Rows, tr.job.Out, tr.want)
					}
				}
			})
		}
	}
}

// blocker occupies the only scorer: its job's Done waits until release.
type blocker struct {
	job     ingest.Job
	started chan struct{}
	release chan struct{}
}

func newBlocker(t *testing.T, mdl *model.Loaded) *blocker {
	bl := &blocker{started: make(chan struct{}), release: make(chan struct{})}
	bl.job = ingest.Job{Model: mdl, Rows: randomRows(rand.New(rand.NewPCG(9, 9)), mdl.Schema(), 1),
		Done: func(*ingest.Job) {
			close(bl.started)
			<-bl.release
		}}
	return bl
}

func (bl *blocker) occupy(t *testing.T, b *worker.Batcher) {
	t.Helper()
	if err := b.Submit(context.Background(), &bl.job); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bl.started:
	case <-time.After(10 * time.Second):
		t.Fatal("blocking job not started within 10s")
	}
}

func histogram(t *testing.T, h prometheus.Histogram) *dto.Histogram {
	t.Helper()
	var m dto.Metric
	if err := h.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram()
}

// TestBatcherBatchBoundaries checks where batches close, with one scorer
// held busy so that jobs pile up in a known order: a lone job goes at once
// although MaxWait is an hour; then 10 one-row jobs with MaxSize 4 form
// batches of 4, 4 and 2 (the last closes because nothing else waits); a job
// for another *Model closes the open batch; a job larger than MaxSize is a
// batch of its own.
func TestBatcherBatchBoundaries(t *testing.T) {
	t.Parallel()
	mdl := testModel(t)
	other := *mdl // same backend, another identity (as after a reload)
	met := metrics.New(nil)
	b := worker.NewBatcher(worker.Config{MaxSize: 4, MaxWait: time.Hour, Queue: 100}, 1, met)
	startBatcher(t, b)
	rng := rand.New(rand.NewPCG(3, 4))

	bl := newBlocker(t, mdl) // a lone job: scored although MaxWait is an hour
	bl.occupy(t, b)

	var wg sync.WaitGroup
	submit := func(m *model.Loaded, rows int) {
		j := &ingest.Job{Model: m, Rows: randomRows(rng, m.Schema(), rows), Done: func(j *ingest.Job) {
			if j.Err != nil {
				t.Errorf("job: %v", j.Err)
			}
			wg.Done()
		}}
		wg.Add(1)
		if err := b.Submit(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		submit(mdl, 1)
	}
	submit(&other, 1) // closes the batch of mdl jobs it follows
	submit(&other, 1)
	submit(mdl, 6) // more than MaxSize: alone
	close(bl.release)
	waitDone(t, &wg, "jobs")

	h := histogram(t, met.BatchSize)
	// Batches: 1 (blocker), 4, 4, 2, 2 (other), 6.
	if got, want := h.GetSampleCount(), uint64(6); got != want {
		t.Errorf("batches = %d, want %d", got, want)
	}
	if got, want := h.GetSampleSum(), float64(1+4+4+2+2+6); got != want {
		t.Errorf("rows = %v, want %v", got, want)
	}
	wantCum := map[float64]uint64{1: 1, 2: 3, 4: 5, 8: 6}
	for _, bk := range h.GetBucket() {
		if want, ok := wantCum[bk.GetUpperBound()]; ok && bk.GetCumulativeCount() != want {
			t.Errorf("batches of ≤%v rows = %d, want %d", bk.GetUpperBound(), bk.GetCumulativeCount(), want)
		}
	}
}

// TestBatcherOverloaded: with the scorer busy and a queue of 2, TrySubmit
// fails at once with ErrOverloaded after a handful of jobs, and every job it
// accepted is still scored.
func TestBatcherOverloaded(t *testing.T) {
	t.Parallel()
	mdl := testModel(t)
	b := worker.NewBatcher(worker.Config{MaxSize: 1, MaxWait: time.Hour, Queue: 2}, 1, nil)
	startBatcher(t, b)
	bl := newBlocker(t, mdl)
	bl.occupy(t, b)

	rng := rand.New(rand.NewPCG(5, 6))
	var wg sync.WaitGroup
	accepted := 0
	overloaded := false
	// Room: 2 queued, 1 in the batch waiting for the scorer, 1 carried.
	for range 10 {
		j := &ingest.Job{Model: mdl, Rows: randomRows(rng, mdl.Schema(), 1), Done: func(*ingest.Job) { wg.Done() }}
		wg.Add(1)
		err := b.TrySubmit(j)
		if errors.Is(err, worker.ErrOverloaded) {
			wg.Done()
			overloaded = true
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
	}
	if !overloaded {
		t.Fatalf("TrySubmit accepted %d jobs with a queue of 2 and the scorer busy", accepted)
	}
	close(bl.release)
	waitDone(t, &wg, "accepted jobs")
}

// TestBatcherCloseDrains: Close stops intake, Run scores what is queued and
// returns nil.
func TestBatcherCloseDrains(t *testing.T) {
	t.Parallel()
	mdl := testModel(t)
	b := worker.NewBatcher(worker.Config{MaxSize: 8, MaxWait: time.Millisecond, Queue: 1000}, 2, nil)
	run := make(chan error, 1)
	go func() { run <- b.Run(context.Background()) }()

	rng := rand.New(rand.NewPCG(7, 8))
	var scored atomic.Int32
	const n = 500
	for range n {
		j := &ingest.Job{Model: mdl, Rows: randomRows(rng, mdl.Schema(), 1), Done: func(j *ingest.Job) {
			if j.Err == nil && len(j.Out) == 1 {
				scored.Add(1)
			}
		}}
		if err := b.Submit(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	select {
	case err := <-run:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if got := scored.Load(); got != n {
		t.Fatalf("scored %d of %d jobs queued before Close", got, n)
	}
	j := &ingest.Job{Model: mdl, Rows: randomRows(rng, mdl.Schema(), 1), Done: func(*ingest.Job) {}}
	if err := b.TrySubmit(j); !errors.Is(err, worker.ErrClosed) {
		t.Fatalf("TrySubmit after Close = %v, want ErrClosed", err)
	}
	if err := b.Submit(context.Background(), j); !errors.Is(err, worker.ErrClosed) {
		t.Fatalf("Submit after Close = %v, want ErrClosed", err)
	}
}

// TestBatcherHardStop: cancelling Run's context fails every job not yet
// handed to a scorer with ErrClosed; each job still gets exactly one Done.
func TestBatcherHardStop(t *testing.T) {
	t.Parallel()
	mdl := testModel(t)
	b := worker.NewBatcher(worker.Config{MaxSize: 2, MaxWait: time.Hour, Queue: 100}, 1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	run := make(chan error, 1)
	go func() { run <- b.Run(ctx) }()
	bl := newBlocker(t, mdl)
	bl.occupy(t, b)

	rng := rand.New(rand.NewPCG(1, 1))
	const n = 20
	var wg sync.WaitGroup
	var calls, closed atomic.Int32
	for range n {
		wg.Add(1)
		j := &ingest.Job{Model: mdl, Rows: randomRows(rng, mdl.Schema(), 1), Done: func(j *ingest.Job) {
			calls.Add(1)
			if errors.Is(j.Err, worker.ErrClosed) {
				closed.Add(1)
			}
			wg.Done()
		}}
		if err := b.Submit(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	go func() {
		// Let the scorer go once the collector has failed the queue (or
		// after a deadline, so that a failing test still ends).
		ch := make(chan struct{})
		go func() { wg.Wait(); close(ch) }()
		select {
		case <-ch:
		case <-time.After(20 * time.Second):
		}
		close(bl.release)
	}()
	select {
	case err := <-run:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// At most one batch (2 jobs) was already on its way to the scorer.
	if calls.Load() != n || closed.Load() < n-2 {
		t.Fatalf("Done calls %d (want %d), ErrClosed %d (want ≥ %d)", calls.Load(), n, closed.Load(), n-2)
	}
}

func TestBatcherRejectsBadJobs(t *testing.T) {
	t.Parallel()
	mdl := testModel(t)
	b := worker.NewBatcher(worker.DefaultConfig(), 1, nil)
	startBatcher(t, b)
	good := randomRows(rand.New(rand.NewPCG(1, 1)), mdl.Schema(), 1)
	wrongShape := &model.Batch{Rows: 1, NumFloat: 1, Floats: []float64{1}}
	for name, j := range map[string]*ingest.Job{
		"nil model": {Rows: good, Done: func(*ingest.Job) {}},
		"no rows":   {Model: mdl, Rows: &model.Batch{}, Done: func(*ingest.Job) {}},
		"no Done":   {Model: mdl, Rows: good},
		"shape":     {Model: mdl, Rows: wrongShape, Done: func(*ingest.Job) {}},
	} {
		if err := b.TrySubmit(j); !errors.Is(err, worker.ErrBadJob) {
			t.Errorf("%s: TrySubmit = %v, want ErrBadJob", name, err)
		}
	}
}

// TestBatcherPredictError: a batch the backend refuses (here a prediction
// type the model cannot produce) fails its jobs with the backend's error.
func TestBatcherPredictError(t *testing.T) {
	t.Parallel()
	mdl := testModel(t)
	bad := *mdl
	bad.Prediction = model.PredictionType(99)
	b := worker.NewBatcher(worker.DefaultConfig(), 1, nil)
	startBatcher(t, b)
	errc := make(chan error, 1)
	j := &ingest.Job{Model: &bad, Rows: randomRows(rand.New(rand.NewPCG(1, 1)), bad.Schema(), 2),
		Done: func(j *ingest.Job) { errc <- j.Err }}
	if err := b.TrySubmit(j); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("job of a refused batch has no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("job not done")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := worker.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []worker.Config{
		{MaxSize: 0, MaxWait: time.Millisecond, Queue: 1},
		{MaxSize: 1, MaxWait: -1, Queue: 1},
		{MaxSize: 1, MaxWait: 0, Queue: 0},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
}

// BenchmarkBatcher measures one-row jobs through the batcher from 8
// concurrent submitters (the async path's shape).
func BenchmarkBatcher(b *testing.B) {
	mdl := testModel(b)
	bt := worker.NewBatcher(worker.DefaultConfig(), 0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = bt.Run(ctx) }()
	rows := randomRows(rand.New(rand.NewPCG(1, 2)), mdl.Schema(), 1)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		done := make(chan struct{}, 1)
		j := &ingest.Job{Model: mdl, Rows: rows, Done: func(*ingest.Job) { done <- struct{}{} }}
		for pb.Next() {
			if err := bt.Submit(ctx, j); err != nil {
				b.Error(err)
				return
			}
			<-done
		}
	})
}
