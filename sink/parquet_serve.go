package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Restart policy of Serve.
const (
	// minRestartWait is the first pause before the sink starts again; it
	// doubles per failure up to maxRestartWait, with ±20% jitter.
	minRestartWait = time.Second
	maxRestartWait = 30 * time.Second
	// healthyRun is how long a run must have lasted for its failure to
	// start the backoff over at minRestartWait.
	healthyRun = time.Minute
	// failureLogEvery is how often failures are logged at error level; the
	// ones in between are logged at debug level and counted.
	failureLogEvery = 30 * time.Second
	// gapLogEvery is how often a gap recovery is logged at warning level.
	gapLogEvery = 10 * time.Second
)

// Run is Serve with the service's stop shape: it serves until Stop (or
// until ctx ends) and returns Serve's result: nil once the open file is
// committed, or the failure that no restart can mend.
func (p *Parquet) Run(ctx context.Context) error {
	defer close(p.runDone)
	defer context.AfterFunc(ctx, p.stopRun)()
	return p.Serve(p.runCtx)
}

// Stop makes Run commit the open file and return, and waits for it until
// ctx ends.
func (p *Parquet) Stop(ctx context.Context) error {
	p.stopRun()
	select {
	case <-p.runDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("parquet sink: close the open file: %w", ctx.Err())
	}
}

// Serve runs the sink until ctx ends, and after each transient failure (NATS
// lost or a missed heartbeat, JetStream or the stream unavailable, the
// consumer deleted, the directory or the disk failing) starts it again from
// its files after a pause of minRestartWait doubling to maxRestartWait. It
// returns nil once ctx has ended and the open file is committed (or the
// error of that commit), and at once, with the error, on a failure that no
// restart can mend: another sink holds the directory (ErrSinkLocked), the
// stream is behind the files (ErrStreamBehind), the consumer's name is taken
// by a consumer of another kind (ErrConsumerMismatch), or the NATS
// connection is closed for good.
//
// Logs: one error when failures start and at most one per failureLogEvery
// while they go on, one info line when the sink reads again after an
// announced failure, and on return a line with the totals. Both `scorer
// serve` and `scorer sink parquet` run the sink through Serve.
func (p *Parquet) Serve(ctx context.Context) error {
	var fails failureLog
	wait := minRestartWait
	for {
		began := time.Now()
		err := p.run(ctx, func() { fails.recovered(p.log, "dir", p.dir) })
		if ctx.Err() != nil {
			p.stopped()
			return err
		}
		if err == nil {
			err = errors.New("parquet sink: run ended before its context") // run ends only with ctx or an error
		}
		if p.permanent(err) {
			p.log.Error("parquet sink stopped: this failure needs an operator", "dir", p.dir, "error", err)
			return err
		}
		if time.Since(began) >= healthyRun {
			wait = minRestartWait
		}
		delay := jitter(wait)
		fails.failed(p.log, err, "dir", p.dir, "restart_in", delay.Round(time.Millisecond))
		p.restarts.Add(1)
		if p.opts.Restarted != nil {
			p.opts.Restarted()
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			p.stopped()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, maxRestartWait)
	}
}

func (p *Parquet) stopped() {
	p.log.Info("parquet sink stopped", "dir", p.dir, "gap_recoveries", p.GapRecoveries(), "restarts", p.Restarts())
}

// permanent reports whether err is a failure Serve must not retry.
func (p *Parquet) permanent(err error) bool {
	return errors.Is(err, ErrSinkLocked) || errors.Is(err, ErrStreamBehind) || errors.Is(err, ErrConsumerMismatch) ||
		errors.Is(err, nats.ErrConnectionClosed) || p.js.Conn().IsClosed()
}

// jitter returns d ±20%.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)*2/5+1)) - d/5
}

// failureLog turns a run of failures into few log lines: an error when they
// start, at most one per failureLogEvery while they go on, and an info line
// when the sink reads again after an announced failure. Only Serve's
// goroutine uses it.
type failureLog struct {
	failing   bool
	announced bool      // an error was logged for this run of failures
	since     time.Time // first failure of this run of failures
	count     int       // failures in this run of failures
	logged    time.Time // last error logged, across runs of failures
}

func (f *failureLog) failed(log *slog.Logger, err error, attrs ...any) {
	now := time.Now()
	if !f.failing {
		f.failing, f.since, f.count = true, now, 0
	}
	f.count++
	if !f.logged.IsZero() && now.Sub(f.logged) < failureLogEvery {
		log.Debug("parquet sink failed again", append([]any{"failures", f.count, "error", err}, attrs...)...)
		return
	}
	f.logged = now
	if !f.announced {
		f.announced = true
		log.Error("parquet sink failed: starting it again from its files", append([]any{"error", err}, attrs...)...)
		return
	}
	log.Error("parquet sink still failing", append([]any{"for", now.Sub(f.since).Round(time.Second), "failures", f.count,
		"error", err}, attrs...)...)
}

func (f *failureLog) recovered(log *slog.Logger, attrs ...any) {
	if !f.failing {
		return
	}
	f.failing = false
	if f.announced {
		f.announced = false
		log.Info("parquet sink reading again", append([]any{"after", time.Since(f.since).Round(time.Millisecond),
			"failures", f.count}, attrs...)...)
	}
}

// limitedLog logs a warning at most once per gapLogEvery; the ones in
// between go to debug level and their number rides on the next warning.
type limitedLog struct {
	mu         sync.Mutex
	logged     time.Time
	suppressed int
}

func (l *limitedLog) warn(log *slog.Logger, msg string, attrs ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.logged.IsZero() && now.Sub(l.logged) < gapLogEvery {
		l.suppressed++
		log.Debug(msg, attrs...)
		return
	}
	log.Warn(msg, append(attrs, "not_logged_since_last", l.suppressed)...)
	l.logged, l.suppressed = now, 0
}
