package faulttest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// runChecked waits until every application [0, n) of prefix has exactly
// one result in LOANS_SCORED and LOANS is empty, and logs the counts.
func runChecked(t *testing.T, js jetstream.JetStream, prefix string, n int, pub *Publisher, pubErr <-chan error, start time.Time) {
	t.Helper()
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	WaitStream(t, js, "LOANS_SCORED", int64(n), 3*time.Minute)
	elapsed := time.Since(start)
	testkit.Eventually(t, time.Minute, "LOANS empty and nothing pending", func() bool {
		pending, ack, err := ConsumerState(js, "LOANS", "scorer")
		return err == nil && pending == 0 && ack == 0 && StreamMsgs(js, "LOANS") == 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tally, err := ReadStream(ctx, js, "LOANS_SCORED", false)
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for i := range n {
		r, ok := tally.Results[ID(prefix, i)]
		switch {
		case !ok:
			missing++
		case r.Proba == nil || r.Error != nil:
			t.Errorf("%s: want a score, got an error result", r.ID)
		}
	}
	dups := tally.Duplicates()
	t.Logf("results: %d applications, %d stored, %d missing, %d duplicates, %d publish retries, %v end to end",
		n, tally.Total, missing, len(dups), pub.Retries(), elapsed.Round(time.Millisecond))
	if missing != 0 || len(dups) != 0 || tally.Total != n {
		t.Fatalf("want every application exactly once: %d stored, %d missing, duplicates %v", tally.Total, missing, head(dups, 10))
	}
}

// TestRestartNATSServer stops nats-server (file storage) in the middle of
// a run and starts it again on the same port and store: the workers and
// the producer reconnect, and every application ends with exactly one
// result.
func TestRestartNATSServer(t *testing.T) {
	n := size(5000, 50000)
	srv := StartServer(t, bins.NATSServer, ServerConfig{})
	testkit.StartScorer(t, bins.Scorer, "worker-1", ScorerSettings(t, srv.URL()))
	testkit.StartScorer(t, bins.Scorer, "worker-2", ScorerSettings(t, srv.URL()))
	js := ConnectJS(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pub := &Publisher{JS: js, Subject: "loans.score", Prefix: "restart", Rate: n / 5}
	pubErr := make(chan error, 1)
	start := time.Now()
	go func() { pubErr <- pub.Run(ctx, n) }()

	testkit.Eventually(t, 2*time.Minute, "a third of the results stored", func() bool {
		return StreamMsgs(js, "LOANS_SCORED") >= int64(n/3)
	})
	srv.Stop(t)
	stopped := time.Now()
	before := pub.Published()
	// Down long enough for every client to notice and start reconnecting.
	testkit.Eventually(t, 10*time.Second, "the producer sees the outage", func() bool { return pub.Retries() > 0 })
	srv.Restart(t)
	restarted := time.Now()
	var atRestart int64
	testkit.Eventually(t, time.Minute, "JetStream answers after the restart", func() bool {
		atRestart = StreamMsgs(js, "LOANS_SCORED")
		return atRestart >= 0
	})
	testkit.Eventually(t, time.Minute, "a new result after the restart", func() bool {
		return StreamMsgs(js, "LOANS_SCORED") > atRestart
	})
	t.Logf("nats-server down %v (%d applications published before); first new result %v after the restart",
		restarted.Sub(stopped).Round(time.Millisecond), before, time.Since(restarted).Round(time.Millisecond))
	runChecked(t, js, "restart", n, pub, pubErr, start)
}

// TestClusterNodeLoss runs two workers against a three-node cluster with
// every stream at replicas 3, stops one node in the middle of the run (the
// run must complete with nothing lost), then starts it again and waits for
// its replicas to catch up.
func TestClusterNodeLoss(t *testing.T) {
	n := size(5000, 50000)
	nodes := StartCluster(t, bins.NATSServer, 3)
	url := ClusterURL(nodes)
	for _, name := range []string{"worker-1", "worker-2"} {
		s := ScorerSettings(t, url)
		s["stream.replicas"] = "3"
		// The production ack_wait, not the suite's 2 s: while a stopped
		// node's stream and consumer leaders are re-elected, acks and
		// InProgress heartbeats can be lost, and under load that took
		// longer than the suite's max_deliver × ack_wait (5 × 2 s): valid
		// applications were dead-lettered as timeouts. docs/OPERATIONS.md
		// ("Scaling out") states the budget.
		s["consumer.ack_wait"] = "30s"
		testkit.StartScorer(t, bins.Scorer, name, s)
	}
	// The test's own connection avoids the node it stops.
	js := ConnectJS(t, nodes[1].URL()+","+nodes[2].URL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pub := &Publisher{JS: js, Subject: "loans.score", Prefix: "cluster", Rate: n / 5}
	pubErr := make(chan error, 1)
	start := time.Now()
	go func() { pubErr <- pub.Run(ctx, n) }()

	testkit.Eventually(t, 2*time.Minute, "a third of the results stored", func() bool {
		return StreamMsgs(js, "LOANS_SCORED") >= int64(n/3)
	})
	nodes[0].Stop(t)
	t.Logf("stopped node n1 at %d results", StreamMsgs(js, "LOANS_SCORED"))
	runChecked(t, js, "cluster", n, pub, pubErr, start)

	nodes[0].Restart(t)
	restarted := time.Now()
	for _, stream := range []string{"LOANS", "LOANS_SCORED", "LOANS_DLQ"} {
		testkit.Eventually(t, 2*time.Minute, stream+" replicas current on all three nodes", func() bool {
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			defer ccancel()
			s, err := js.Stream(cctx, stream)
			if err != nil {
				return false
			}
			ci := s.CachedInfo().Cluster
			if ci == nil || ci.Leader == "" || len(ci.Replicas) != 2 {
				return false
			}
			for _, r := range ci.Replicas {
				if !r.Current || r.Offline || r.Lag != 0 {
					return false
				}
			}
			return true
		})
	}
	t.Logf("n1 restarted; every stream's replicas current after %v", time.Since(restarted).Round(time.Millisecond))
	// A client of the restarted node alone sees every result.
	js1 := ConnectJS(t, nodes[0].URL())
	testkit.Eventually(t, time.Minute, "LOANS_SCORED through n1 holds every result", func() bool { return StreamMsgs(js1, "LOANS_SCORED") == int64(n) })
}
