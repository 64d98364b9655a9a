package ratelog

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// OutageEvery is how often an operation that keeps failing is logged
// again.
const OutageEvery = 30 * time.Second

// Outage turns a stream of failures of one operation into few log lines:
// one when they start, one per OutageEvery while they go on, one when the
// operation succeeds again (a flapping path: at most one warning and one
// recovery per interval). A stalled results path fails thousands of
// publishes a second; the caller logs each at debug level only. Build it
// with NewOutage; it is safe for concurrent use.
type Outage struct {
	what      string      // "result publish", "fetch"
	start     string      // what the first warning adds: how the service copes
	failing   atomic.Bool // a failure since the last success
	mu        sync.Mutex
	announced bool      // a warning was logged and no recovery since
	since     time.Time // first failure after the last success
	logged    time.Time // last warning
	count     int64     // failures since the last success
}

// NewOutage returns the outage log of the operation what ("result
// publish"); start says how the service copes while it fails ("holding
// messages and retrying").
func NewOutage(what, start string) *Outage { return &Outage{what: what, start: start} }

// Fail records a failure; attrs are logged with the warnings.
func (o *Outage) Fail(log *slog.Logger, err error, attrs ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	if !o.failing.Load() {
		o.since, o.count = now, 0
		o.failing.Store(true)
	}
	o.count++
	switch {
	case !o.announced && (o.logged.IsZero() || now.Sub(o.logged) >= OutageEvery):
		o.announced, o.logged = true, now
		log.Warn(o.what+" failing: "+o.start, append([]any{"error", err}, attrs...)...)
	case o.announced && now.Sub(o.logged) >= OutageEvery:
		o.logged = now
		log.Warn(o.what+" still failing", append([]any{"for", now.Sub(o.since).Round(time.Second),
			"failures", o.count, "error", err}, attrs...)...)
	}
}

// OK records a success; it reports whether failures came before it.
func (o *Outage) OK(log *slog.Logger) bool {
	if !o.failing.Load() {
		return false // the hot path: one atomic load
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.failing.Load() {
		return false
	}
	o.failing.Store(false)
	if o.announced {
		o.announced = false
		log.Info(o.what+" recovered", "after", time.Since(o.since).Round(time.Millisecond), "failures", o.count)
	}
	return true
}
