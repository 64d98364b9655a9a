package embedded

import (
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// TestServerErrorFloodIsSummarized: 300 clients that speak garbage make
// nats-server log an error each (the flood that wrote 623,000 lines);
// through serverLog they cost one line per interval plus summaries that
// count the rest.
func TestServerErrorFloodIsSummarized(t *testing.T) {
	const clients = 300
	var buf testkit.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoSystemAccount: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetLoggerV2(newServerLog(log, 300*time.Millisecond), false, false, false)
	go srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	addr := srv.Addr().String()
	for range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("GARBAGE THAT IS NOT NATS\r\n"))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Read(make([]byte, 512)) // INFO, then -ERR and the close
		c.Close()
	}
	skipped := regexp.MustCompile(`msg="nats-server error(: summary)?".* skipped=(\d+)`)
	var lines, counted int
	testkit.Eventually(t, 10*time.Second, "every error counted in a line", func() bool {
		lines, counted = 0, 0
		for l := range strings.SplitSeq(buf.String(), "\n") {
			if !strings.Contains(l, `msg="nats-server error`) {
				continue
			}
			lines++
			if !strings.Contains(l, "summary") {
				counted++ // the line stands for its own event
			}
			if m := skipped.FindStringSubmatch(l); m != nil {
				n, _ := strconv.Atoi(m[2])
				counted += n
			}
		}
		return counted >= clients
	})
	if lines > 10 {
		t.Errorf("%d error lines for %d bad clients, want a few:\n%s", lines, clients, testkit.Tail(buf.String(), 20))
	}
	t.Logf("%d error events in %d lines", counted, lines)
}
