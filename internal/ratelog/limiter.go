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
// themselves are counted in the metrics by the caller. It is safe for
// concurrent use.
type Limiter struct {
	log   *slog.Logger
	level slog.Level
	msg   string
	every time.Duration

	mu      sync.Mutex
	last    time.Time // when the last line was logged
	skipped int64     // events since then that were not logged
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
		l.mu.Unlock()
		return
	}
	skipped := l.skipped
	l.last, l.skipped = now, 0
	l.mu.Unlock()
	if skipped > 0 {
		attrs = append(attrs, "skipped", skipped)
	}
	l.log.Log(context.Background(), l.level, l.msg, attrs...)
}

// maxLoggedBytes bounds a string taken from input (a subject, an id) in a
// log line.
const maxLoggedBytes = 128

// Clip returns s cut to 128 bytes, marked with the full length when cut,
// so that a log line never carries an unbounded input value.
func Clip(s string) string {
	if len(s) <= maxLoggedBytes {
		return s
	}
	return s[:maxLoggedBytes] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
