package faulttest

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/sink"
)

// TestParquetSinkBrokerCrash is issue 11's reproduction of lost sink rows:
// one worker, a Parquet sink with --max-age 3s, applications published at a
// steady rate; 30% into the publishing the nats-server is killed (-9) and
// started again 3 s later on the same store, and 65% in (at least 2 s after
// that) it is stopped and started gracefully. Then every committed file is
// read back with arrow-go and must hold exactly the results LOANS_SCORED
// holds, each once. The sink runs on its own (`scorer sink parquet`) and,
// as the second case, inside `scorer serve` (sink.parquet.dir). FAULT_FULL=1
// runs the sizes: 30,000 applications at 1,500/s, kill at +6 s,
// graceful restart at +13 s.
func TestParquetSinkBrokerCrash(t *testing.T) {
	for _, inServe := range []bool{false, true} {
		name := "standalone"
		if inServe {
			name = "in_serve"
		}
		t.Run(name, func(t *testing.T) { brokerCrashRun(t, inServe) })
	}
}

func brokerCrashRun(t *testing.T, inServe bool) {
	n, rate := size(8000, 30000), size(1000, 1500)
	publishing := time.Duration(n) * time.Second / time.Duration(rate)
	const down = 3 * time.Second
	killAt := publishing * 3 / 10
	stopAt := max(publishing*13/20, killAt+down+2*time.Second)

	srv := StartServer(t, bins.NATSServer, ServerConfig{})
	dir := filepath.Join(t.TempDir(), "scores")
	settings := ScorerSettings(t, srv.URL())
	if inServe {
		settings["sink.parquet.dir"] = fmt.Sprintf("%q", dir)
		settings["sink.parquet.max_age"] = "3s"
	}
	worker := testkit.StartScorer(t, bins.Scorer, "worker", settings)
	sinkProc := worker.Proc
	if !inServe {
		sinkProc = testkit.StartProc(t, "parquet sink", bins.Scorer,
			[]string{"sink", "parquet", "--dir", dir, "--nats-url", srv.URL(), "--http-addr", "127.0.0.1:0", "--max-age", "3s"}, nil)
	}
	js := ConnectJS(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pub := &Publisher{JS: js, Subject: "loans.score", Prefix: "crash", Rate: rate}
	pubErr := make(chan error, 1)
	start := time.Now()
	go func() { pubErr <- pub.Run(ctx, n) }()

	// The schedule is the fault itself, so it sleeps rather than polls.
	time.Sleep(time.Until(start.Add(killAt)))
	atKill := pub.Published()
	srv.Proc().Kill(t)
	time.Sleep(down)
	srv.Restart(t)
	time.Sleep(time.Until(start.Add(stopAt)))
	atStop := pub.Published()
	srv.Stop(t)
	srv.Restart(t)
	t.Logf("nats-server killed (-9) at +%v with %d published, restarted %v later; stopped and restarted at +%v with %d published",
		killAt.Round(time.Millisecond), atKill, down, stopAt.Round(time.Millisecond), atStop)

	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	WaitStream(t, js, "LOANS_SCORED", int64(n), 3*time.Minute)
	testkit.Eventually(t, 2*time.Minute, "LOANS empty and nothing pending", func() bool {
		pending, ack, err := ConsumerState(js, "LOANS", "scorer")
		return err == nil && pending == 0 && ack == 0 && StreamMsgs(js, "LOANS") == 0
	})
	tally, err := ReadStream(ctx, js, "LOANS_SCORED", false)
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for i := range n {
		if tally.Count[ID("crash", i)] == 0 {
			missing++
		}
	}
	last := streamLastSeq(t, js, "LOANS_SCORED")
	testkit.Eventually(t, 2*time.Minute, fmt.Sprintf("Parquet files through sequence %d", last), func() bool {
		through, err := CommittedThrough(dir)
		return err == nil && through >= last
	})
	elapsed := time.Since(start)
	if code := sinkProc.Stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("%s exited with %d after SIGTERM", sinkProc.Name, code)
	}
	files, err := ReadSinkFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	diff := CompareSink(tally, files)
	out := sinkProc.Output()
	gaps, restarts := sinkTotals(out)
	t.Logf("figures: published %d, stored %d (missing %d, duplicates %d), in files %d rows in %d files, lost %d, duplicated %d, extra %d, changed %d, gap recoveries %d, sink restarts %d, slow-consumer drops logged %d, %v until the files were complete",
		pub.Published(), tally.Total, missing, len(tally.Duplicates()), files.Rows, files.Files, len(diff.Lost), len(diff.Duplicated),
		len(diff.Extra), len(diff.Changed), gaps, restarts, strings.Count(out, "slow consumer"), elapsed.Round(time.Millisecond))
	t.Logf("what the sink said about it:\n%s", sinkNews(out, 10))
	if missing != 0 || len(tally.Duplicates()) != 0 {
		t.Errorf("LOANS_SCORED: %d of %d applications missing, duplicates %v", missing, n, head(tally.Duplicates(), 10))
	}
	if !diff.OK() {
		t.Errorf("the Parquet files are not the results stream: %s", diff)
	}
	if len(files.Problems) > 0 {
		t.Errorf("file names: %v", head(files.Problems, 10))
	}
}

// TestStandaloneSinkRidesOutPauses stops the broker (SIGSTOP) for longer
// than the sink's heartbeats, then the sink itself for as long, then stops
// and starts the broker: `scorer sink parquet` must carry on through all
// three (it exited 1 with "nats: no heartbeat received" after a 35 s pause,
// issue 11 item 8), log the lost broker at error level and its return at
// info level, and end with every result in its files once. The pause is
// 8 s (over the sink's own idle heartbeat window of about 3.3 s); under
// FAULT_FULL=1 it is the 35 s, past the 30 s heartbeat window the
// sink had before: the old sink exited after the sink's own 35 s stop (a
// broker stop and start did not end it, its iterator pulled again).
func TestStandaloneSinkRidesOutPauses(t *testing.T) {
	pause := sizeDuration(8*time.Second, 35*time.Second)
	srv := StartServer(t, bins.NATSServer, ServerConfig{})
	testkit.StartScorer(t, bins.Scorer, "worker", ScorerSettings(t, srv.URL()))
	dir := filepath.Join(t.TempDir(), "scores")
	sinkProc := testkit.StartProc(t, "parquet sink", bins.Scorer,
		[]string{"sink", "parquet", "--dir", dir, "--nats-url", srv.URL(), "--http-addr", "127.0.0.1:0", "--max-age", "1s"}, nil)
	js := ConnectJS(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const batch = 1000
	// The sink's consumer, to see its last commit acknowledged: a pause
	// that lands while that ack is in flight only delays it, and the sink
	// carries on without noticing (correct, but not the case under test).
	sinkConsumer := sink.ConsumerName(dir)
	publishAndSink := func(prefix string) {
		t.Helper()
		if err := (&Publisher{JS: js, Subject: "loans.score", Prefix: prefix}).Run(ctx, batch); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 2*time.Minute, prefix+": every result scored and in the files", func() bool {
			if sinkProc.Exited() {
				t.Fatalf("the sink exited (status %d) %s:\n%s", sinkProc.ExitCode(), prefix, testkit.Tail(sinkProc.Output(), 2048))
			}
			pending, ack, err := ConsumerState(js, "LOANS", "scorer")
			if err != nil || pending != 0 || ack != 0 || StreamMsgs(js, "LOANS") != 0 {
				return false
			}
			last, err := lastSeq(js, "LOANS_SCORED")
			through, ferr := CommittedThrough(dir)
			if err != nil || ferr != nil || through < last {
				return false
			}
			_, sinkUnacked, err := ConsumerState(js, "LOANS_SCORED", sinkConsumer)
			return err == nil && sinkUnacked == 0
		})
	}
	publishAndSink("start")

	srv.Proc().Signal(t, syscall.SIGSTOP)
	time.Sleep(pause) // the fault: a broker that stops answering
	srv.Proc().Signal(t, syscall.SIGCONT)
	publishAndSink("after-broker-pause")
	out := sinkProc.Output()
	failed := strings.Index(out, "level=ERROR msg=\"parquet sink failed")
	back := strings.LastIndex(out, "level=INFO msg=\"parquet sink reading again")
	if failed < 0 || back < failed {
		t.Errorf("after a %v broker pause the sink logged no error, or no recovery after it:\n%s", pause, testkit.Tail(out, 2048))
	}

	sinkProc.Signal(t, syscall.SIGSTOP)
	time.Sleep(pause) // the fault: the sink itself stopped
	sinkProc.Signal(t, syscall.SIGCONT)
	publishAndSink("after-sink-pause")

	srv.Stop(t)
	srv.Restart(t)
	publishAndSink("after-broker-restart")
	if sinkProc.Exited() {
		t.Fatalf("the sink exited (status %d):\n%s", sinkProc.ExitCode(), testkit.Tail(sinkProc.Output(), 2048))
	}

	if code := sinkProc.Stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("the sink exited with %d after SIGTERM", code)
	}
	tally, err := ReadStream(ctx, js, "LOANS_SCORED", false)
	if err != nil {
		t.Fatal(err)
	}
	files, err := ReadSinkFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	diff := CompareSink(tally, files)
	gaps, restarts := sinkTotals(sinkProc.Output())
	t.Logf("pauses of %v: stored %d, in files %d rows, lost %d, duplicated %d, extra %d; gap recoveries %d, sink restarts %d; %d error and %d info lines about it",
		pause, tally.Total, files.Rows, len(diff.Lost), len(diff.Duplicated), len(diff.Extra), gaps, restarts,
		strings.Count(sinkProc.Output(), "level=ERROR"), strings.Count(sinkProc.Output(), "parquet sink reading again"))
	t.Logf("what the sink said about it:\n%s", sinkNews(sinkProc.Output(), 20))
	if tally.Total != 4*batch || !diff.OK() || len(files.Problems) > 0 {
		t.Errorf("want %d results, each once in the files: %s; file names %v", 4*batch, diff, head(files.Problems, 10))
	}
}

// lastSeq returns the last sequence of stream.
func lastSeq(js jetstream.JetStream, stream string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	return s.CachedInfo().State.LastSeq, nil
}

func streamLastSeq(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	var last uint64
	testkit.Eventually(t, time.Minute, stream+" info", func() bool {
		var err error
		last, err = lastSeq(js, stream)
		return err == nil
	})
	return last
}

var sinkStopped = regexp.MustCompile(`msg="parquet sink stopped" .*gap_recoveries=(\d+) restarts=(\d+)`)

// sinkTotals reads the gap recoveries and restarts from the sink's last
// "parquet sink stopped" line (-1, -1 when there is none).
func sinkTotals(out string) (gaps, restarts int) {
	m := sinkStopped.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return -1, -1
	}
	last := m[len(m)-1]
	gaps, _ = strconv.Atoi(last[1])
	restarts, _ = strconv.Atoi(last[2])
	return gaps, restarts
}

// sinkNews returns up to max of the sink's lines in out at warning level
// and above, and its recoveries: what an operator would be told.
func sinkNews(out string, max int) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "parquet sink") {
			continue
		}
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") || strings.Contains(l, "reading again") {
			lines = append(lines, l)
		}
	}
	return strings.Join(head(lines, max), "\n")
}
