package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/model"
)

// maxStuckLoads is how many abandoned model loads may still be blocked
// (each holds a goroutine and a thread in a read that never returns)
// before further reloads are refused: a hung mount costs at most this many.
const maxStuckLoads = 4

// modelLoad is one load of the model running in its own goroutine. Nothing
// waits for that goroutine: a read stuck in the kernel (a hung network
// mount) cannot be interrupted, so a load that outlives model.load_timeout
// or the process's shutdown is abandoned and its result, if it ever comes,
// is dropped into the buffered channel.
type modelLoad struct {
	result  chan loadResult // buffered: the goroutine never blocks on it
	started time.Time
	// state is loadRunning until the goroutine finishes (loadDone) or the
	// owner gives up on it (loadAbandoned), whichever happens first.
	state atomic.Int32
}

type loadResult struct {
	mdl *model.Loaded
	err error
	// misfit says why explain.* does not fit mdl (see reloader.fits).
	misfit error
}

const (
	loadRunning int32 = iota
	loadDone
	loadAbandoned
)

// startLoad runs loadChecked(load) in a new goroutine, then fits, when
// set, on the model it loaded. stuck counts the abandoned loads whose
// goroutine has not returned yet.
func startLoad(load Loader, fits func(*model.Loaded) error, stuck *atomic.Int32) *modelLoad {
	l := &modelLoad{result: make(chan loadResult, 1), started: time.Now()}
	go func() {
		mdl, err := loadChecked(load)
		var misfit error
		if err == nil && fits != nil {
			misfit = fits(mdl)
		}
		if !l.state.CompareAndSwap(loadRunning, loadDone) {
			stuck.Add(-1) // it was abandoned; it is not stuck any more
		}
		l.result <- loadResult{mdl, err, misfit}
	}()
	return l
}

// abandon gives up on l and reports whether it did: false means the load
// has just finished and its result is waiting in l.result.
func (l *modelLoad) abandon(stuck *atomic.Int32) bool {
	if !l.state.CompareAndSwap(loadRunning, loadAbandoned) {
		return false
	}
	stuck.Add(1)
	return true
}

// loadFirst loads the model at start without ever blocking past ctx or
// timeout: the start is abandoned (the load left to finish or not in its
// goroutine) when the process is told to stop or the load takes too long.
func loadFirst(ctx context.Context, load Loader, timeout time.Duration) (*model.Loaded, error) {
	var stuck atomic.Int32
	l := startLoad(load, nil, &stuck)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case res := <-l.result:
		return res.mdl, res.err
	case <-ctx.Done():
		if l.abandon(&stuck) {
			return nil, fmt.Errorf("load model: start interrupted: %w", ctx.Err())
		}
	case <-timer.C:
		if l.abandon(&stuck) {
			return nil, fmt.Errorf("load model: %w (%v)", ErrLoadTimeout, timeout)
		}
	}
	res := <-l.result // finished as it was being abandoned
	return res.mdl, res.err
}

// reloader runs the reloads asked for by SIGHUP (and, with model.watch, by
// a change of the model file), one at a time, each in its own goroutine,
// so its loop (Run) never waits for a file and a shutdown never waits for a
// reload. Its other methods are called from that loop only.
//
// A loaded model incompatible with the serving one (see incompatible), or
// one the explain.* configuration does not fit (fits), is refused unless
// allowIncompatible. Each reload ends in
// scorer_model_reloads_total as loaded, failed or refused.
//
// At most one reload is in flight. A request during one is coalesced: one
// more reload runs when the current one ends (so the newest file wins),
// however many requests came meanwhile. A reload running past
// model.load_timeout is abandoned (the current model stays) and the
// coalesced one, if any, starts; while maxStuckLoads abandoned loads are
// still blocked, requests are refused with a log line instead.
type reloader struct {
	load    Loader
	timeout time.Duration
	path    string // for the log
	log     *slog.Logger
	// swap installs a loaded model and returns the one it replaces.
	swap func(*model.Loaded) *model.Loaded
	// serving returns the model serving now.
	serving func() *model.Loaded
	// allowIncompatible is model.reload_incompatible.
	allowIncompatible bool
	// fits, when set, says why the explain.* configuration does not fit a
	// loaded model (nil when it does); such a model is refused as an
	// incompatible one is. It runs in the load's goroutine.
	fits func(*model.Loaded) error
	m    *metrics.Metrics
	// watch, when set (model.watch), starts the file watcher with Run.
	watch *fileWatch

	requests <-chan struct{} // Options.Reload
	quit     chan struct{}   // closed by Stop
	exited   chan struct{}   // closed when Run has returned
	quitOnce sync.Once

	inFlight *modelLoad
	timer    *time.Timer
	pending  bool
	stuck    atomic.Int32
}

// Run takes reload requests until Stop, then abandons the load in flight,
// if any, and returns nil.
func (r *reloader) Run(ctx context.Context) error {
	defer close(r.exited)
	defer r.stop()
	var changed <-chan struct{}
	if r.watch != nil {
		changed = r.watch.changed
		go r.watch.run(r.quit)
	}
	for {
		select {
		case <-r.quit:
			return nil
		case <-ctx.Done():
			return nil
		case <-r.requests:
			r.request()
		case <-changed:
			r.log.Info("model file changed: reloading", "model", r.path)
			r.request()
		case res := <-r.done():
			r.finish(res)
		case <-r.expired():
			r.timedOut()
		}
	}
}

// Stop ends Run and waits for it, until ctx ends.
func (r *reloader) Stop(ctx context.Context) error {
	r.quitOnce.Do(func() { close(r.quit) })
	select {
	case <-r.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop model reloads: %w", ctx.Err())
	}
}

// request starts a reload, or coalesces it into the next one.
func (r *reloader) request() {
	if r.inFlight != nil {
		if !r.pending {
			r.log.Info("reload requested while another is in progress: it runs once that one ends",
				"model", r.path, "running_for", time.Since(r.inFlight.started).Round(time.Millisecond))
		}
		r.pending = true
		return
	}
	if n := r.stuck.Load(); n >= maxStuckLoads {
		r.log.Error("reload refused: earlier model loads are still blocked reading the file (a hung mount?); keeping the current model",
			"model", r.path, "blocked_loads", n, "version", r.serving().Version)
		r.ended(metrics.ReloadFailed)
		return
	}
	r.inFlight = startLoad(r.load, r.fits, &r.stuck)
	if r.timer == nil {
		r.timer = time.NewTimer(r.timeout)
	} else {
		r.timer.Reset(r.timeout)
	}
}

// done is the in-flight load's result channel; nil (never ready) when
// none runs.
func (r *reloader) done() <-chan loadResult {
	if r.inFlight == nil {
		return nil
	}
	return r.inFlight.result
}

// expired fires when the in-flight load has run for model.load_timeout;
// nil when none runs.
func (r *reloader) expired() <-chan time.Time {
	if r.inFlight == nil {
		return nil
	}
	return r.timer.C
}

// finish swaps in a loaded model (or logs why not) and starts the
// coalesced reload, if any.
func (r *reloader) finish(res loadResult) {
	r.inFlight = nil
	r.timer.Stop()
	cur := r.serving()
	switch {
	case res.err != nil:
		r.log.Error("reload failed, keeping the current model", "version", cur.Version, "error", res.err)
		r.ended(metrics.ReloadFailed)
	default:
		if err := errors.Join(incompatible(cur, res.mdl), res.misfit); err != nil {
			if !r.allowIncompatible {
				r.log.Error("reload refused, keeping the current model (model.reload_incompatible: true loads it anyway)",
					"version", cur.Version, "error", err)
				r.ended(metrics.ReloadRefused)
				break
			}
			r.log.Warn("loading an incompatible model: model.reload_incompatible is set", "error", err)
		}
		old := r.swap(res.mdl)
		r.log.Info("model reloaded", "version", res.mdl.Version, "previous", old.Version)
		r.m.LastReloadSuccessTime.SetToCurrentTime()
		r.ended(metrics.ReloadLoaded)
	}
	r.next()
}

// ended counts a reload by its outcome (metrics.Reload*).
func (r *reloader) ended(outcome string) {
	r.m.ReloadsTotal.WithLabelValues(outcome).Inc()
	if outcome == metrics.ReloadLoaded {
		r.m.LastReloadSuccessful.Set(1)
	} else {
		r.m.LastReloadSuccessful.Set(0)
	}
}

// timedOut abandons the in-flight load, unless it finished meanwhile.
func (r *reloader) timedOut() {
	l := r.inFlight
	if !l.abandon(&r.stuck) {
		r.finish(<-l.result)
		return
	}
	r.inFlight = nil
	r.log.Error("reload abandoned: the model file was not read within model.load_timeout; keeping the current model",
		"model", r.path, "timeout", r.timeout, "version", r.serving().Version, "blocked_loads", r.stuck.Load())
	r.ended(metrics.ReloadFailed)
	r.next()
}

func (r *reloader) next() {
	if r.pending {
		r.pending = false
		r.request()
	}
}

// stop abandons the in-flight load at shutdown.
func (r *reloader) stop() {
	if r.inFlight == nil {
		return
	}
	if r.inFlight.abandon(&r.stuck) {
		r.log.Warn("shutting down with a model reload in progress: abandoned", "model", r.path,
			"running_for", time.Since(r.inFlight.started).Round(time.Millisecond))
	}
	r.inFlight = nil
	r.timer.Stop()
}
