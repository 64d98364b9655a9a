package service

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/sink"
)

// TestServeStopsWhenItsSinkCannotRun starts a second service whose Parquet
// sink points at the directory the first one's sink holds: no restart can
// mend that, so the second service must stop with ErrSinkLocked instead of
// retrying (or scoring on without its sink) in silence.
func TestServeStopsWhenItsSinkCannotRun(t *testing.T) {
	t.Parallel()
	path := xgbModel
	var mu sync.Mutex
	srv, _ := testkit.StartNATS(t)
	cfg := testConfig(srv.ClientURL())
	cfg.Sink.Parquet.Dir = t.TempDir()
	startService(t, cfg, fileLoader(&path, &mu))
	testkit.Eventually(t, 30*time.Second, "the first service's sink holds its directory", func() bool {
		entries, _ := os.ReadDir(cfg.Sink.Parquet.Dir)
		return len(entries) > 0 // the lock file
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logs := &testkit.Buffer{}
	err := Run(ctx, cfg, Options{Load: fileLoader(&path, &mu), Log: slog.New(slog.NewTextHandler(logs, nil))})
	if !errors.Is(err, sink.ErrSinkLocked) {
		t.Fatalf("second service: %v, want ErrSinkLocked\n%s", err, logs)
	}
	if ctx.Err() != nil {
		t.Fatal("the second service ran until the test's deadline")
	}
}
