package ingest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/worker"
)

// serverConns counts the file descriptors this process holds for TCP
// connections accepted on port: sockets in the kernel's table
// (/proc/net/tcp) with that local port, other than the listener, matched by
// inode against /proc/self/fd. Connections still in the listen queue have
// no descriptor and are not counted.
func serverConns(t *testing.T, port int) int {
	t.Helper()
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	want := fmt.Sprintf(":%04X", port)
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || !strings.HasSuffix(f[1], want) || f[3] == "0A" { // 0A: LISTEN
			continue
		}
		inodes["socket:["+f[9]+"]"] = true
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, fd := range fds {
		if link, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && inodes[link] {
			n++
		}
	}
	return n
}

// keepAliveGet sends GET /healthz on c and reads the answer, leaving the
// connection open (HTTP/1.1 keep-alive).
func keepAliveGet(c net.Conn) error {
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: scorer\r\n\r\n"); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// With http.max_conns 8, 24 idle keep-alive clients never hold more than 8
// server connections and each new one is answered (the idle ones closed
// first, oldest first), in sequence or in a burst. With all 8 busy, a new
// connection waits, and is answered as soon as one of them goes idle.
func TestHTTPConnLimitClosesIdleFirstThenWaits(t *testing.T) {
	const maxConns = 8
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	cfg := ingest.DefaultHTTPConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.MaxConns = maxConns
	cfg.ReadTimeout = time.Minute // the held requests below stay busy
	cfg.IdleTimeout = time.Hour   // only the cap closes idle connections
	srv := ingest.NewHTTPServer(cfg, h.door(nil), nil, nil, nil)
	ln, err := ingest.ListenHTTP(srv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	port := ln.Addr().(*net.TCPAddr).Port
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	var idle []net.Conn
	peak := 0
	for i := range 3 * maxConns {
		c := dial()
		if err := keepAliveGet(c); err != nil {
			t.Fatalf("idle client %d not answered: %v", i, err)
		}
		idle = append(idle, c)
		peak = max(peak, serverConns(t, port))
		if peak > maxConns {
			t.Fatalf("after %d idle clients the server holds %d connections, over http.max_conns %d", i+1, peak, maxConns)
		}
	}
	t.Logf("%d idle keep-alive clients: at most %d server connections", len(idle), peak)
	// The oldest were closed by the server; the newest still work.
	_ = idle[0].SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := idle[0].Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("the oldest idle connection: read %v, want EOF (closed by the server)", err)
	}
	if err := keepAliveGet(idle[len(idle)-1]); err != nil {
		t.Errorf("the newest idle connection: %v", err)
	}

	// A burst: every client sends its request before any reads its answer,
	// so at the cap no connection is idle yet when the next is due; each
	// one going idle must let the next in (no idle timeout to rescue it).
	burst := make([]net.Conn, 3*maxConns)
	for i := range burst {
		burst[i] = dial()
		if _, err := io.WriteString(burst[i], "GET /healthz HTTP/1.1\r\nHost: scorer\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range burst {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("burst client %d of %d not answered: %v", i, len(burst), err)
		}
		resp.Body.Close()
		if n := serverConns(t, port); n > maxConns {
			t.Fatalf("during the burst the server holds %d connections", n)
		}
	}

	// Busy connections are never closed: max requests whose bodies never
	// complete take every slot (closing the idle ones), and a new
	// connection waits until one of them ends.
	var busy []net.Conn
	for range maxConns {
		c := dial()
		if _, err := io.WriteString(c, "POST /predict HTTP/1.1\r\nHost: scorer\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		busy = append(busy, c)
	}
	late := dial()
	if _, err := io.WriteString(late, "GET /healthz HTTP/1.1\r\nHost: scorer\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = late.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := late.Read(make([]byte, 1)); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection past the cap with every slot busy: read %d bytes, %v; want no answer yet", n, err)
	}
	if n := serverConns(t, port); n > maxConns {
		t.Errorf("with %d busy requests and one waiting, the server holds %d connections", maxConns, n)
	}
	// One busy request completes: its connection goes idle (keep-alive),
	// not closed, and that alone must let the waiting one in.
	if _, err := io.WriteString(busy[0], strings.Repeat(" ", 998)+"}"); err != nil {
		t.Fatal(err)
	}
	_ = busy[0].SetReadDeadline(time.Now().Add(30 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(busy[0]), nil); err != nil {
		t.Fatalf("the completed request: %v", err)
	} else {
		resp.Body.Close()
	}
	_ = late.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(late), nil)
	if err != nil {
		t.Fatalf("the waiting connection, once a busy one went idle: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the waiting connection: status %d", resp.StatusCode)
	}
}

func TestHTTPConfigValidatesConnLimits(t *testing.T) {
	for _, tc := range []struct {
		edit func(*ingest.HTTPConfig)
		key  string
	}{
		{func(c *ingest.HTTPConfig) { c.MaxConns = 0 }, "http.max_conns"},
		{func(c *ingest.HTTPConfig) { c.MaxConns = 1 << 20 }, "http.max_conns"},
		{func(c *ingest.HTTPConfig) { c.IdleTimeout = 0 }, "http.idle_timeout"},
	} {
		cfg := ingest.DefaultHTTPConfig()
		tc.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%+v: %v, want an error naming %s", cfg, err, tc.key)
		}
	}
	if err := ingest.DefaultHTTPConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if got := strconv.Itoa(ingest.DefaultHTTPConfig().MaxConns); got != "1024" {
		t.Errorf("default http.max_conns %s, want 1024", got)
	}
}

// The listener's connections keep what http.Server looks for on a TCP
// connection: CloseWrite, with which it half-closes a connection after an
// error response (413 with the body unread) so that the client reads the
// response instead of a reset.
func TestHTTPConnLimitKeepsCloseWrite(t *testing.T) {
	cfg := ingest.DefaultHTTPConfig()
	cfg.Addr = "127.0.0.1:0"
	ln, err := ingest.ListenHTTP(&http.Server{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T has no CloseWrite", c)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("after CloseWrite the client reads %v, want EOF", err)
	}
}
