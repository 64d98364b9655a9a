package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/loadtest"
	"github.com/loan-scorer/loan-scorer/internal/service"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// benchScorer runs the service in-process (demo model, loaded as scorer
// serve loads it) on an embedded JetStream server; it returns the NATS
// URL and the HTTP address.
func benchScorer(t *testing.T) (natsURL, httpAddr string) {
	t.Helper()
	srv := testkit.StartNATSWith(t, testkit.NATSOptions(t.TempDir()))
	cfg := service.DefaultConfig()
	cfg.NATS.URL = srv.ClientURL()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Shutdown.Timeout = 10 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := make(chan string, 1)
	go func() {
		done <- service.Run(ctx, cfg, service.Options{
			Load:    modelLoader(cfg.Model),
			Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			Started: func(_, addr string) { started <- addr },
		})
	}()
	select {
	case httpAddr = <-started:
	case err := <-done:
		cancel()
		t.Fatalf("service: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("service did not start")
	}
	// Started may run before the micro service's subscription has reached
	// the server: wait until the sync subject answers another connection.
	nc := testkit.Connect(t, srv)
	testkit.Eventually(t, 10*time.Second, "loans.score.sync has a responder", func() bool {
		_, err := nc.Request("loans.score.sync", loadtest.SeedExamples()[0], 2*time.Second)
		return err == nil
	})
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service shutdown: %v", err)
		}
	})
	return srv.ClientURL(), httpAddr
}

func runBenchCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newBenchCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// latencyLine reads "name:   1.234 ms" from the latency output.
func latencyLine(t *testing.T, out, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `:\s+([0-9.]+) ms$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s line in:\n%s", name, out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func TestBenchLatency(t *testing.T) {
	t.Parallel()
	natsURL, httpAddr := benchScorer(t)
	for _, args := range [][]string{
		{"latency", "--target", "http", "--n", "200", "--url", "http://" + httpAddr},
		{"latency", "--target", "nats", "--n", "200", "--nats-url", natsURL, "--bodies", "seed"},
	} {
		t.Run(args[2], func(t *testing.T) {
			out, err := runBenchCmd(t, args...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
			if !strings.HasPrefix(out, "200 requests to ") || !strings.Contains(out, ", 0 failed") {
				t.Errorf("header line: %s", out)
			}
			med, p95, p99, mx := latencyLine(t, out, "median"), latencyLine(t, out, "p95"), latencyLine(t, out, "p99"), latencyLine(t, out, "max")
			if !(0 < med && med <= p95 && p95 <= p99 && p99 <= mx) {
				t.Errorf("median %g p95 %g p99 %g max %g out of order", med, p95, p99, mx)
			}
		})
	}
}

func TestBenchLatencyFailsLoudly(t *testing.T) {
	t.Parallel()
	_, httpAddr := benchScorer(t)
	// Nothing listens on port 1: every request fails, the command errs.
	if out, err := runBenchCmd(t, "latency", "--n", "3", "--url", "http://127.0.0.1:1"); err == nil {
		t.Errorf("latency against a closed port succeeded:\n%s", out)
	}
	for _, args := range [][]string{
		{"latency", "--target", "async"},
		{"latency", "--target", "smtp"},
		{"latency", "--bodies", "random", "--url", "http://" + httpAddr},
		{"latency", "--url", "ftp://x"},
		{"load", "--max", "--rate-per-user", "2"},
		{"load", "--users", "0"},
	} {
		if out, err := runBenchCmd(t, args...); err == nil {
			t.Errorf("%v accepted:\n%s", args, out)
		}
	}
}

func TestBenchLoadWritesReports(t *testing.T) {
	t.Parallel()
	_, httpAddr := benchScorer(t)
	dir := t.TempDir()
	csvPath, htmlPath, jsonPath := filepath.Join(dir, "l.csv"), filepath.Join(dir, "l.html"), filepath.Join(dir, "l.json")
	out, err := runBenchCmd(t, "load", "--target", "http", "--url", "http://"+httpAddr, "--users", "3", "--spawn-rate", "30",
		"--duration", "1500ms", "--interval", "250ms", "--rate-per-user", "40",
		"--csv", csvPath, "--html", htmlPath, "--json", jsonPath, "--note", "test run")
	if err != nil {
		t.Fatalf("bench load: %v\n%s", err, out)
	}
	recs := testkit.ReadCSV(t, csvPath)
	var sum summaryJSON
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatal(err)
	}
	// The CSV's request column adds up to the summary's total; every
	// printed row is a CSV row.
	var total uint64
	for _, r := range recs[1:] {
		n, err := strconv.ParseUint(r[2], 10, 64)
		if err != nil {
			t.Fatalf("csv row %v: %v", r, err)
		}
		total += n
	}
	printed := regexp.MustCompile(`(?m)^\s+[0-9.]+s\s+\d+`).FindAllString(out, -1)
	if len(recs) < 3 || len(printed) != len(recs)-1 || total != sum.Requests || sum.Requests == 0 || sum.Failures != 0 {
		t.Errorf("%d csv rows, %d printed, csv total %d, summary %d requests %d failures\n%s", len(recs)-1, len(printed), total, sum.Requests, sum.Failures, out)
	}
	if sum.MaxUsers != 3 || sum.SteadyRequests == 0 || sum.SteadyP95Ms <= 0 {
		t.Errorf("summary %+v: want 3 users and steady-state latencies", sum)
	}
	html, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(html, []byte("<svg")) || !bytes.Contains(html, []byte("test run")) || bytes.Contains(html, []byte("<script")) {
		t.Errorf("html report lacks charts or the note, or has a script")
	}
}

// summaryJSON mirrors the fields of --json the test reads.
type summaryJSON struct {
	Requests       uint64  `json:"requests"`
	Failures       uint64  `json:"failures"`
	MaxUsers       int     `json:"max_users"`
	SteadyRequests uint64  `json:"steady_requests"`
	SteadyP95Ms    float64 `json:"steady_p95_ms"`
}

func TestBenchAsync(t *testing.T) {
	t.Parallel()
	natsURL, _ := benchScorer(t)
	out, err := runBenchCmd(t, "async", "--n", "400", "--nats-url", natsURL, "--in-flight", "64", "--timeout", "1m")
	if err != nil {
		t.Fatalf("bench async: %v\n%s", err, out)
	}
	if !strings.Contains(out, "published 400 in ") || !strings.Contains(out, "; 400 results (0 errors) in ") || !strings.Contains(out, "publish-to-result latency: p50 ") {
		t.Errorf("output:\n%s", out)
	}
}
