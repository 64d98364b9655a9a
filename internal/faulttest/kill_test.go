package faulttest

import (
	"context"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// TestKillWorkerMidRun kill -9s one of two workers in the middle of a run.
// Its unacked messages must come back to the other worker (ack_wait 2s),
// every application must end with exactly one stored result (the results
// are published with Nats-Msg-Id: a redelivered input's second result is
// deduplicated), and the Parquet sink, running as its own process, must
// write each id exactly once.
func TestKillWorkerMidRun(t *testing.T) {
	n := size(5000, 50000)
	srv := StartServer(t, bins.NATSServer, ServerConfig{})
	w1 := testkit.StartScorer(t, bins.Scorer, "worker-1", ScorerSettings(t, srv.URL()))
	w2 := testkit.StartScorer(t, bins.Scorer, "worker-2", ScorerSettings(t, srv.URL()))
	sinkDir := t.TempDir()
	testkit.StartProc(t, "parquet sink", bins.Scorer, []string{"sink", "parquet", "--dir", sinkDir, "--nats-url", srv.URL(), "--http-addr", "127.0.0.1:0", "--max-rows", "2000", "--max-age", "1s"}, nil)

	js := ConnectJS(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Pace the producer so the run lasts a few seconds and the kill lands
	// in its middle, with messages in flight at the killed worker.
	pub := &Publisher{JS: js, Subject: "loans.score", Prefix: "kill", Rate: n / 4}
	pubErr := make(chan error, 1)
	start := time.Now()
	go func() { pubErr <- pub.Run(ctx, n) }()

	testkit.Eventually(t, 2*time.Minute, "a third of the results stored", func() bool {
		return StreamMsgs(js, "LOANS_SCORED") >= int64(n/3)
	})
	// Kill while messages are unacked (delivered, not yet settled), so
	// the kill lands mid-batch rather than between two.
	var ackPending int
	testkit.Eventually(t, time.Minute, "unacked messages in flight", func() bool {
		var err error
		_, ackPending, err = ConsumerState(js, "LOANS", "scorer")
		return err == nil && ackPending > 0
	})
	atKill := StreamMsgs(js, "LOANS_SCORED")
	w1.Kill(t)
	killedAt := time.Now()
	t.Logf("killed worker-1 (kill -9) after %d of %d results, %d messages unacked across workers", atKill, n, ackPending)

	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	WaitStream(t, js, "LOANS_SCORED", int64(n), 3*time.Minute)
	elapsed := time.Since(start)
	testkit.Eventually(t, time.Minute, "LOANS empty and nothing pending", func() bool {
		pending, ack, err := ConsumerState(js, "LOANS", "scorer")
		return err == nil && pending == 0 && ack == 0 && StreamMsgs(js, "LOANS") == 0
	})

	tally, err := ReadStream(ctx, js, "LOANS_SCORED", false)
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for i := range n {
		r, ok := tally.Results[ID("kill", i)]
		if !ok {
			missing++
			continue
		}
		if r.Proba == nil || r.Error != nil {
			t.Errorf("%s: %+v, want a score", r.ID, r)
		}
	}
	dups := tally.Duplicates()
	t.Logf("results: %d applications, %d stored results, %d missing, %d duplicates, %d publish retries, %v end to end (kill at %v), %v after the kill",
		n, tally.Total, missing, len(dups), pub.Retries(), elapsed.Round(time.Millisecond), killedAt.Sub(start).Round(time.Millisecond), time.Since(killedAt).Round(time.Millisecond))
	if missing != 0 || len(dups) != 0 || tally.Total != n {
		t.Fatalf("want every application exactly once: %d stored, %d missing, duplicates %v", tally.Total, missing, head(dups, 10))
	}
	redelivered := w2.Metric(t, "scorer_redeliveries_total")
	t.Logf("worker-2 saw %v redeliveries (messages the killed worker held)", redelivered)

	var ids map[string]int
	var rows int
	testkit.Eventually(t, 2*time.Minute, "Parquet files hold every result", func() bool {
		ids, rows, err = ParquetIDs(sinkDir)
		if err != nil {
			t.Fatal(err)
		}
		return rows >= n
	})
	for i := range n {
		if c := ids[ID("kill", i)]; c != 1 {
			t.Errorf("%s is in the Parquet files %d times, want 1", ID("kill", i), c)
		}
	}
	t.Logf("parquet: %d rows, %d distinct ids", rows, len(ids))
	if rows != n {
		t.Fatalf("parquet rows %d, want %d", rows, n)
	}
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
