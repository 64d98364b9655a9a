package ratelog

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

func TestLimiterLogsOncePerInterval(t *testing.T) {
	var buf testkit.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := NewLimiter(log, slog.LevelWarn, "flood", time.Hour)
	for range 1000 {
		l.Event("k", "v")
	}
	if n := strings.Count(buf.String(), "msg=flood"); n != 1 {
		t.Fatalf("%d lines for 1000 events in one interval, want 1:\n%s", n, buf.String())
	}
	l.last = time.Now().Add(-2 * time.Hour) // the interval has passed
	l.Event("k", "v")
	if !strings.Contains(buf.String(), "skipped=999") {
		t.Errorf("the second line does not count the 999 skipped events:\n%s", buf.String())
	}
	quiet := NewLimiter(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})), slog.LevelWarn, "unseen", time.Hour)
	quiet.Event()
	if strings.Contains(buf.String(), "unseen") {
		t.Error("an event below the logger's level was logged")
	}
}

func TestOutageLogsStartStillAndRecovery(t *testing.T) {
	var buf testkit.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	o := NewOutage("result publish", "holding messages")
	if o.OK(log) {
		t.Fatal("OK before any failure reports a recovery")
	}
	for range 100 {
		o.Fail(log, errTest, "held", 3)
	}
	if n := strings.Count(buf.String(), "result publish failing: holding messages"); n != 1 {
		t.Fatalf("%d start lines, want 1:\n%s", n, buf.String())
	}
	o.mu.Lock()
	o.logged = o.logged.Add(-OutageEvery)
	o.mu.Unlock()
	o.Fail(log, errTest)
	if !strings.Contains(buf.String(), "result publish still failing") || !strings.Contains(buf.String(), "failures=101") {
		t.Errorf("no still-failing line with the count:\n%s", buf.String())
	}
	if !o.OK(log) || !strings.Contains(buf.String(), "result publish recovered") {
		t.Errorf("the first success after failures is not a logged recovery:\n%s", buf.String())
	}
	if o.OK(log) {
		t.Error("a second success reports a recovery again")
	}
}

func TestClip(t *testing.T) {
	if got := Clip("short"); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
	long := strings.Repeat("x", 1000)
	if got := Clip(long); len(got) > 160 || !strings.HasSuffix(got, "(1000 bytes)") {
		t.Errorf("Clip of 1000 bytes = %q", got)
	}
}

type testError struct{}

func (testError) Error() string { return "stream full" }

var errTest = testError{}

// TestLimiterSummarizesAFloodThatStops: events skipped at the end of a
// flood are counted in a summary line once the interval ends, even though
// no event comes after them.
func TestLimiterSummarizesAFloodThatStops(t *testing.T) {
	var buf testkit.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	l := NewLimiter(log, slog.LevelError, "flood", 50*time.Millisecond)
	for range 500 {
		l.Event()
	}
	testkit.Eventually(t, 10*time.Second, "a summary line", func() bool {
		return strings.Contains(buf.String(), `msg="flood: summary" skipped=499`)
	})
	if n := strings.Count(buf.String(), "msg=flood"); n != 1 {
		t.Errorf("%d event lines, want 1:\n%s", n, buf.String())
	}
}
