package service

import (
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// TestAsyncErrorFloodIsSummarized: a connection whose user may not
// publish to a subject gets an async permissions error per publish; 500
// of them cost one log line plus a summary counting the rest (before: 500
// lines).
func TestAsyncErrorFloodIsSummarized(t *testing.T) {
	t.Parallel()
	opts := testkit.NATSOptions(t.TempDir())
	opts.Users = []*natsserver.User{{Username: "app", Password: "secret",
		Permissions: &natsserver.Permissions{Publish: &natsserver.SubjectPermission{Deny: []string{"forbidden"}}}}}
	srv := testkit.StartNATSWith(t, opts)
	var logs testkit.Buffer
	cfg := NATSConfig{URL: srv.ClientURL(), User: "app", Password: "secret"}
	nc, err := cfg.Connect("flood", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const n = 500
	for range n {
		if err := nc.Publish("forbidden", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil && err != nats.ErrConnectionClosed {
		t.Logf("flush: %v", err)
	}
	// Each violation is counted, on its own line or in a "skipped" count.
	counted := func() int {
		total := 0
		skipped := regexp.MustCompile(`skipped=(\d+)`)
		for l := range strings.SplitSeq(logs.String(), "\n") {
			if !strings.Contains(l, `msg="NATS async error`) {
				continue
			}
			if !strings.Contains(l, "summary") {
				total++
			}
			if m := skipped.FindStringSubmatch(l); m != nil {
				k, _ := strconv.Atoi(m[1])
				total += k
			}
		}
		return total
	}
	testkit.Eventually(t, 30*time.Second, "every violation counted", func() bool { return counted() >= n })
	if lines := strings.Count(logs.String(), `msg="NATS async error`); lines > 3 {
		t.Errorf("%d log lines for %d async errors, want at most 3:\n%s", lines, n, testkit.Tail(logs.String(), 5))
	}
}
