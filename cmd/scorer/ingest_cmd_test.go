package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/parquet-go/parquet-go"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/loan"
)

// TestIngestServeSinkEndToEnd runs three real processes against one
// JetStream server: `scorer serve` scores, `scorer sink parquet` writes the
// results, `scorer ingest --wait` publishes a generated file and waits for
// every result. The sink's files must hold every row exactly once with the
// probability `scorer score` computes for the same row; a second ingest of
// the same file must publish nothing new.
func TestIngestServeSinkEndToEnd(t *testing.T) {
	t.Parallel()
	bin := scorerBinary(t)
	srv, nc := testkit.StartNATS(t)
	dir := t.TempDir()
	in, scored, sinkDir := filepath.Join(dir, "loans.parquet"), filepath.Join(dir, "scored.parquet"), filepath.Join(dir, "sink")
	const n = 2000
	if out, err := exec.Command(bin, "gen", "--n", fmt.Sprint(n), "--seed", "5", "-o", in).CombinedOutput(); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "score", in, "-o", scored).CombinedOutput(); err != nil {
		t.Fatalf("score: %v\n%s", err, out)
	}
	start := func(args ...string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin, args...)
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		})
		return cmd, &log
	}
	_, serveLog := start("serve", "--nats-url", srv.ClientURL(), "--http-addr", "127.0.0.1:0", "--log-level", "warn")
	js, _ := jetstream.New(nc)
	testkit.Eventually(t, 60*time.Second, "scorer serve created LOANS_SCORED", func() bool {
		_, err := js.Stream(context.Background(), "LOANS_SCORED")
		return err == nil
	})
	sinkCmd, sinkLog := start("sink", "parquet", "--dir", sinkDir, "--nats-url", srv.ClientURL(), "--http-addr", "127.0.0.1:0", "--max-rows", "700", "--max-age", "500ms")

	ingest := func() string {
		out, err := exec.Command(bin, "ingest", in, "--wait", "--wait-timeout", "2m", "--nats-url", srv.ClientURL()).CombinedOutput()
		if err != nil {
			t.Fatalf("ingest: %v\n%s\nserve log:\n%s", err, out, serveLog)
		}
		return string(out)
	}
	first := ingest()
	if !strings.Contains(first, fmt.Sprintf("published %d rows", n)) || !strings.Contains(first, fmt.Sprintf("(%d new, 0 duplicates, 0 failed)", n)) ||
		!strings.Contains(first, fmt.Sprintf("results: %d (0 errors)", n)) {
		t.Errorf("first ingest: %s", first)
	}
	second := ingest()
	if !strings.Contains(second, fmt.Sprintf("(0 new, %d duplicates, 0 failed)", n)) || !strings.Contains(second, fmt.Sprintf("results: %d", n)) {
		t.Errorf("second ingest (same file, inside the dedup window): %s", second)
	}

	testkit.Eventually(t, 60*time.Second, "the sink wrote every result", func() bool { return committedRows(sinkDir) == n })
	_ = sinkCmd.Process.Signal(syscall.SIGTERM)
	if err := sinkCmd.Wait(); err != nil {
		t.Fatalf("sink: %v\n%s", err, sinkLog)
	}
	want := arrowtest.Read(t, scored).Cols["default_proba"]
	prefix := filepath.Base(in) + ":"
	seen := map[int]bool{}
	paths, _ := filepath.Glob(filepath.Join(sinkDir, "scores-*.parquet"))
	for _, p := range paths {
		tbl := arrowtest.Read(t, p)
		for i, v := range tbl.Cols["id"] {
			id := v.(string)
			var row int
			if _, err := fmt.Sscanf(id[strings.LastIndexByte(id, ':')+1:], "%d", &row); err != nil || !strings.HasPrefix(id, prefix) {
				t.Fatalf("unexpected id %q", id)
			}
			if seen[row] {
				t.Errorf("row %d twice in the files", row)
			}
			seen[row] = true
			if got := tbl.Cols["default_proba"][i]; got != want[row] {
				t.Errorf("row %d: async path %v, scorer score %v", row, got, want[row])
			}
			if m := tbl.Cols["model"][i]; m == nil || !strings.HasPrefix(m.(string), "loan-demo@") {
				t.Errorf("row %d: model %v", row, m)
			}
		}
	}
	if len(seen) != n {
		t.Errorf("files hold %d rows, want %d", len(seen), n)
	}
}

// TestServeRunsParquetSink sets sink.parquet.dir through the environment:
// `scorer serve` then writes every result into the directory itself and
// closes its open file on SIGTERM.
func TestServeRunsParquetSink(t *testing.T) {
	t.Parallel()
	bin := scorerBinary(t)
	srv, nc := testkit.StartNATS(t)
	dir := t.TempDir()
	in, sinkDir := filepath.Join(dir, "loans.jsonl"), filepath.Join(dir, "sink")
	const n = 500
	if out, err := exec.Command(bin, "gen", "--n", fmt.Sprint(n), "-o", in).CombinedOutput(); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	serve := exec.Command(bin, "serve", "--nats-url", srv.ClientURL(), "--http-addr", "127.0.0.1:0")
	serve.Env = append(os.Environ(), "SCORER_SINK_PARQUET_DIR="+sinkDir, "SCORER_SINK_PARQUET_MAX_ROWS=200",
		"SCORER_SINK_PARQUET_MAX_AGE=1h", "SCORER_SINK_PARQUET_ACK_WAIT=2h")
	var log bytes.Buffer
	serve.Stdout, serve.Stderr = &log, &log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = serve.Process.Kill() }()
	js, _ := jetstream.New(nc)
	testkit.Eventually(t, 60*time.Second, "scorer serve created LOANS_SCORED", func() bool {
		_, err := js.Stream(context.Background(), "LOANS_SCORED")
		return err == nil
	})
	out, err := exec.Command(bin, "ingest", in, "--wait", "--nats-url", srv.ClientURL()).CombinedOutput()
	if err != nil {
		t.Fatalf("ingest: %v\n%s\nserve:\n%s", err, out, log.String())
	}
	// 500 results in files of 200: two are committed by count, the last
	// 100 stay open (max_age 1h) until SIGTERM closes the file.
	testkit.Eventually(t, 30*time.Second, "two full files", func() bool { return committedRows(sinkDir) == 400 })
	_ = serve.Process.Signal(syscall.SIGTERM)
	if err := serve.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, log.String())
	}
	// SIGTERM commits the open file with what the sink has handled; results
	// still buffered or in flight to it are not acked, so the next sink gets
	// them again. Whatever the split, the files must end up holding every id
	// exactly once: a second scorer whose file size is exactly the remainder
	// commits the rest by count.
	got := committedRows(sinkDir)
	if got < 400 || got > n {
		t.Fatalf("after SIGTERM the files hold %d rows, want 400..%d\n%s", got, n, log.String())
	}
	if rest := n - got; rest > 0 {
		again := exec.Command(bin, "serve", "--nats-url", srv.ClientURL(), "--http-addr", "127.0.0.1:0")
		again.Env = append(os.Environ(), "SCORER_SINK_PARQUET_DIR="+sinkDir, fmt.Sprintf("SCORER_SINK_PARQUET_MAX_ROWS=%d", rest),
			"SCORER_SINK_PARQUET_MAX_AGE=1h", "SCORER_SINK_PARQUET_ACK_WAIT=2h")
		log.Reset()
		again.Stdout, again.Stderr = &log, &log
		if err := again.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = again.Process.Kill() }()
		testkit.Eventually(t, 60*time.Second, "the restarted sink commits the rest", func() bool { return committedRows(sinkDir) == n })
		_ = again.Process.Signal(syscall.SIGTERM)
		if err := again.Wait(); err != nil {
			t.Fatalf("second serve: %v\n%s", err, log.String())
		}
	}
	seen := map[string]bool{}
	paths, _ := filepath.Glob(filepath.Join(sinkDir, "scores-*.parquet"))
	for _, p := range paths {
		for _, v := range arrowtest.Read(t, p).Cols["id"] {
			if seen[v.(string)] {
				t.Errorf("%s twice", v)
			}
			seen[v.(string)] = true
		}
	}
	if len(seen) != n {
		t.Errorf("%d ids, want %d", len(seen), n)
	}
}

// An empty file (JSON lines, or a Parquet file of no rows) publishes
// nothing and says so with sane figures: the end-to-end time of a run that
// saw no result used to print as -9223372036.85s.
func TestIngestEmptyFile(t *testing.T) {
	t.Parallel()
	srv, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, subject := range map[string]string{"LOANS": "loans.score", "LOANS_SCORED": "loans.scored"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	jsonl, pq := filepath.Join(dir, "empty.jsonl"), filepath.Join(dir, "empty.parquet")
	if err := os.WriteFile(jsonl, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(pq)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[loan.Application](f)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, in := range []string{jsonl, pq} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{"ingest", in, "--wait", "--wait-timeout", "10s", "--nats-url", srv.ClientURL()})
		if err := root.ExecuteContext(ctx); err != nil {
			t.Fatalf("ingest %s: %v\n%s", in, err, out.String())
		}
		got := out.String()
		if !strings.Contains(got, "published 0 rows") || !strings.Contains(got, "(0 new, 0 duplicates, 0 failed)") ||
			!strings.Contains(got, "results: 0 (0 errors) in 0.") || strings.Contains(got, " in -") {
			t.Errorf("ingest %s printed:\n%s", filepath.Base(in), got)
		}
	}
}
