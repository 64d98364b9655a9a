package ratelog

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Limiter turns a flood of one kind of event into at most one log line
// per interval. Whatever the callers' rate, the lines cost a constant
// amount; each line says how many events it stands for, and the events
// themselves are counted in the metrics by the caller. Events left out
// are never left uncounted: the next line carries their number
// ("skipped"), and when none comes within the interval, a summary line
// ("<msg>: summary", with "skipped") is logged at its end. It is safe for
// concurrent use.
type Limiter struct {
	log   *slog.Logger
	level slog.Level
	msg   string
	every time.Duration

	mu      sync.Mutex
	last    time.Time   // when the last line was logged
	skipped int64       // events since then that were not logged
	summary *time.Timer // armed while skipped events wait for a line
}

// NewLimiter returns a limiter that logs msg at level through log at most
// once per every.
func NewLimiter(log *slog.Logger, level slog.Level, msg string, every time.Duration) *Limiter {
	return &Limiter{log: log, level: level, msg: msg, every: every}
}

// Event records one event and logs it with attrs, unless a line went out
// less than the interval ago; then it is only counted, and the next line
// carries the count ("skipped"). Attribute values must be bounded (see
// Clip): a log line never carries unbounded input.
func (l *Limiter) Event(attrs ...any) {
	if !l.log.Enabled(context.Background(), l.level) {
		return
	}
	now := time.Now()
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.skipped++
		if l.summary == nil {
			l.summary = time.AfterFunc(l.every-now.Sub(l.last), l.summarize)
		}
		l.mu.Unlock()
		return
	}
	skipped := l.skipped
	l.last, l.skipped = now, 0
	if l.summary != nil {
		l.summary.Stop()
		l.summary = nil
	}
	l.mu.Unlock()
	if skipped > 0 {
		attrs = append(attrs, "skipped", skipped)
	}
	l.log.Log(context.Background(), l.level, l.msg, attrs...)
}

// summarize logs the events skipped since the last line, at the end of
// its interval, unless an event's line took them along.
func (l *Limiter) summarize() {
	l.mu.Lock()
	skipped := l.skipped
	l.summary = nil
	if skipped > 0 {
		l.last, l.skipped = time.Now(), 0
	}
	l.mu.Unlock()
	if skipped > 0 {
		l.log.Log(context.Background(), l.level, l.msg+": summary", "skipped", skipped, "interval", l.every)
	}
}

// maxLoggedBytes bounds a string taken from input (a subject, an id) in a
// log line.
const maxLoggedBytes = 128

// Clip returns s cut to 128 bytes, marked with the full length when cut,
// so that a log line never carries an unbounded input value.
func Clip(s string) string { return ClipTo(s, maxLoggedBytes) }

// ClipTo returns s cut to n bytes, marked with the full length when cut.
func ClipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
