package service

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// stuckFile makes a FIFO: fileLoader's os.ReadFile of it blocks in open(2)
// until a writer comes, as a read on a hung network mount blocks. When the
// test ends, every blocked reader is let go (it reads an empty file).
func stuckFile(t *testing.T) string {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "stuck.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Opening for writing without blocking succeeds only while a
		// reader waits; each open releases the readers waiting then.
		for range 2 * maxStuckLoads {
			w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err != nil {
				return
			}
			w.Close()
		}
	})
	return fifo
}

// requestReload hands Run a reload request (SIGHUP), failing the test if
// Run's loop does not take it within a minute: a loop stuck in a load.
func (r *running) requestReload(t *testing.T) {
	t.Helper()
	select {
	case r.reload <- struct{}{}:
	case <-time.After(time.Minute):
		t.Fatalf("Run did not take a reload request within a minute\n%s", r.logs)
	}
}

// countLogs counts the log lines holding msg.
func countLogs(logs *testkit.Buffer, msg string) int {
	return strings.Count(logs.String(), `"msg":"`+msg)
}

// servingVersion asks the sync service which model answers.
func servingVersion(t *testing.T, natsURL string) string {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg, err := nc.Request("loans.score.sync", []byte(app), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(msg.Data, &res); err != nil {
		t.Fatalf("%s: %v", msg.Data, err)
	}
	return res.Model
}

// A reload whose read never returns holds nothing hostage: a second
// request while it runs is coalesced (logged once), the service keeps
// serving the current model, and cancelling the context (what SIGTERM
// does) shuts it down cleanly within shutdown.timeout.
func TestStuckReloadDoesNotBlockShutdown(t *testing.T) {
	t.Parallel()
	srv, _ := testkit.StartNATS(t)
	path := xgbModel
	var mu sync.Mutex
	cfg := testConfig(srv.ClientURL())
	cfg.Model.LoadTimeout = time.Hour // the stuck load stays in flight
	r := startService(t, cfg, fileLoader(&path, &mu))
	before := servingVersion(t, r.natsURL)

	mu.Lock()
	path = stuckFile(t)
	mu.Unlock()
	r.requestReload(t)
	r.requestReload(t) // the loop took the first: a load is in flight
	r.requestReload(t)
	testkit.Eventually(t, 10*time.Second, "the second request coalesced", func() bool {
		return countLogs(r.logs, "reload requested while another is in progress") == 1
	})
	if v := servingVersion(t, r.natsURL); v != before {
		t.Errorf("serving %s during the stuck reload, want %s", v, before)
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("shutdown during a stuck reload: %v\n%s", err, r.logs)
	}
	if countLogs(r.logs, "shutting down with a model reload in progress") != 1 || countLogs(r.logs, "stopped") != 1 {
		t.Errorf("the log does not tell the abandoned reload and the clean stop:\n%s", r.logs)
	}
}

// A reload past model.load_timeout is abandoned and a later reload works;
// once maxStuckLoads abandoned loads are still blocked, reloads are refused
// with a log line instead of piling up threads.
func TestStuckReloadIsAbandonedAfterLoadTimeout(t *testing.T) {
	t.Parallel()
	testkit.NeedFull(t, "waits out model.load_timeout several times")
	srv, _ := testkit.StartNATS(t)
	path := xgbModel
	var mu sync.Mutex
	cfg := testConfig(srv.ClientURL())
	cfg.Model.LoadTimeout = 2 * time.Second
	r := startService(t, cfg, fileLoader(&path, &mu))
	setPath := func(p string) {
		mu.Lock()
		path = p
		mu.Unlock()
	}
	stuck := stuckFile(t)

	setPath(stuck)
	r.requestReload(t)
	testkit.Eventually(t, 30*time.Second, "the stuck reload abandoned", func() bool {
		return countLogs(r.logs, "reload abandoned") == 1
	})

	data, err := os.ReadFile(xgbModel)
	if err != nil {
		t.Fatal(err)
	}
	v2 := filepath.Join(t.TempDir(), "v2.json")
	if err := os.WriteFile(v2, append(data, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	setPath(v2)
	r.requestReload(t)
	testkit.Eventually(t, 30*time.Second, "the next reload done", func() bool { return countLogs(r.logs, "model reloaded") == 1 })
	if v := servingVersion(t, r.natsURL); !strings.HasPrefix(v, "binary_logistic@") || countLogs(r.logs, "reload failed") != 0 {
		t.Errorf("after the reload: serving %q\n%s", v, r.logs)
	}

	setPath(stuck)
	for i := 2; i <= maxStuckLoads; i++ {
		r.requestReload(t)
		testkit.Eventually(t, 30*time.Second, "another stuck reload abandoned", func() bool {
			return countLogs(r.logs, "reload abandoned") == i
		})
	}
	r.requestReload(t)
	testkit.Eventually(t, 10*time.Second, "a reload refused", func() bool {
		return countLogs(r.logs, "reload refused") == 1
	})
	if err := r.stop(t); err != nil {
		t.Fatalf("shutdown: %v\n%s", err, r.logs)
	}
}

// A start whose model load blocks ends when the context does, and after
// model.load_timeout otherwise, instead of never serving nor stopping.
func TestStartWithStuckModelLoad(t *testing.T) {
	t.Parallel()
	srv, _ := testkit.StartNATS(t)
	path := stuckFile(t)
	var mu sync.Mutex
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	cfg := testConfig(srv.ClientURL())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Load: fileLoader(&path, &mu), Log: quiet}) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled during the first load: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run still loading a minute after its context ended")
	}

	cfg.Model.LoadTimeout = time.Second
	select {
	case err := <-runAsync(cfg, Options{Load: fileLoader(&path, &mu), Log: quiet}):
		if !errors.Is(err, ErrLoadTimeout) {
			t.Errorf("first load past model.load_timeout: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run still loading a minute after model.load_timeout")
	}
}

func runAsync(cfg Config, opts Options) <-chan error {
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), cfg, opts) }()
	return done
}
