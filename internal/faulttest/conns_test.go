package faulttest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// startScorerWithFileLimit starts `scorer serve` under `ulimit -n limit`
// (soft and hard: Go cannot raise it) with settings.
func startScorerWithFileLimit(t *testing.T, limit int, settings testkit.Settings) *testkit.Scorer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scorer.yaml")
	if err := os.WriteFile(path, []byte(settings.YAML()), 0o600); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`ulimit -n %d && exec "$0" serve --config "$1"`, limit)
	p := testkit.StartProc(t, "scorer", "/bin/sh", []string{"-c", script, bins.Scorer, path}, nil)
	return &testkit.Scorer{Proc: p, HTTPAddr: strings.Trim(settings["http.addr"], `"`), ConfigPath: path}
}

// acceptedConns counts the descriptors process pid holds for TCP
// connections accepted on port (sockets of /proc/net/tcp with that local
// port, the listener excepted, matched by inode against /proc/pid/fd), and
// all its descriptors.
func acceptedConns(t *testing.T, pid, port int) (conns, fds int) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		t.Fatalf("read the socket table: %v", err)
	}
	want := fmt.Sprintf(":%04X", port)
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 10 && strings.HasSuffix(f[1], want) && f[3] != "0A" { // 0A: LISTEN
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	for _, e := range entries {
		if link, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && inodes[link] {
			conns++
		}
	}
	return conns, len(entries)
}

// The case, scaled down: under a limit of 256 open files, 400 idle
// HTTP keep-alive clients (the 19,984 of 20,000) would take every
// descriptor and the embedded NATS server would refuse clients. With
// http.max_conns 64 the scorer never holds more than 64 HTTP connections,
// every client is answered (idle ones closed first), and a NATS client
// still connects and is scored. A max_conns over half the limit is refused
// at start.
func TestIdleHTTPClientsCannotStarveNATS(t *testing.T) {
	const fileLimit, maxConns, clients = 256, 64, 400
	settings := embeddedSettings(t)
	settings["http.max_conns"] = fmt.Sprint(maxConns)
	s := startScorerWithFileLimit(t, fileLimit, settings)
	s.WaitReady(t, 60*time.Second)
	_, port, err := net.SplitHostPort(s.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	httpPort, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}

	peakConns, peakFDs := 0, 0
	for i := range clients {
		c, err := net.Dial("tcp", s.HTTPAddr)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: scorer\r\n\r\n"); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("idle client %d not answered: %v", i, err)
		}
		resp.Body.Close()
		conns, fds := acceptedConns(t, s.Pid(), httpPort)
		peakConns, peakFDs = max(peakConns, conns), max(peakFDs, fds)
		if conns > maxConns {
			t.Fatalf("after %d idle clients the scorer holds %d HTTP connections, over http.max_conns %d", i+1, conns, maxConns)
		}
	}
	t.Logf("%d idle keep-alive clients under ulimit -n %d: at most %d HTTP connections and %d descriptors held",
		clients, fileLimit, peakConns, peakFDs)

	nc := Connect(t, "nats://127.0.0.1:"+strings.Trim(settings["nats.embedded.port"], `"`))
	msg, err := nc.Request("loans.score.sync", App(1), 10*time.Second)
	if err != nil {
		t.Fatalf("a NATS request after the HTTP flood: %v", err)
	}
	if !strings.Contains(string(msg.Data), `"default_proba"`) {
		t.Fatalf("a NATS request after the HTTP flood: %s", msg.Data)
	}
	nc.Close()
	if strings.Contains(s.Output(), "too many open files") {
		t.Errorf("the scorer ran out of file descriptors")
	}
	if code := s.Stop(t, syscall.SIGTERM, time.Minute); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}

	settings = embeddedSettings(t)
	settings["http.max_conns"] = fmt.Sprint(fileLimit/2 + 1)
	refused := startScorerWithFileLimit(t, fileLimit, settings)
	testkit.Eventually(t, time.Minute, "a start with http.max_conns over half the file limit refused", refused.Exited)
	if out := refused.Output(); !strings.Contains(out, "http.max_conns") || !strings.Contains(out, "RLIMIT_NOFILE") {
		t.Errorf("the refusal does not name the key and the limit:\n%s", out)
	}
}
