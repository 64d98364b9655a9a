package faulttest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// TestHostileHeadersDoNotStall sends thousands of applications whose
// result JetStream could never store as they came — a 65,000-byte
// Nats-Msg-Id, or a short id with a 65,000-byte tracestate (JetStream caps
// headers at 64 KiB) — mixed with valid ones. Before, each was held and
// retried for ever, and 8,192 of them (max_ack_pending) stopped all
// scoring at 4.7 GB RSS. Now the long ids get an error result and a dead
// letter under their made-up ids, the tracestates are cut to their bound,
// nothing is held, and the valid applications are scored as fast as a
// run of valid ones alone (both rates are logged; the worker's peak RSS
// must stay under 256 MiB).
func TestHostileHeadersDoNotStall(t *testing.T) {
	valid, hostile := size(5000, 30000), size(2000, 10000)
	srv := StartServer(t, bins.NATSServer, ServerConfig{})
	settings := ScorerSettings(t, srv.URL())
	js := ConnectJS(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// drain starts a worker on the backlog in LOANS and returns how long
	// it took to store want results in all, and the worker's peak RSS.
	drain := func(name string, want int64) (time.Duration, int64, *testkit.Scorer) {
		start := time.Now()
		w := testkit.StartScorer(t, bins.Scorer, name, settings)
		WaitStream(t, js, "LOANS_SCORED", want, 5*time.Minute)
		took := time.Since(start)
		testkit.Eventually(t, time.Minute, "LOANS empty and nothing pending", func() bool {
			pending, ack, err := ConsumerState(js, "LOANS", "scorer")
			return err == nil && pending == 0 && ack == 0 && StreamMsgs(js, "LOANS") == 0
		})
		_, peak, err := w.Memory()
		if err != nil {
			t.Fatal(err)
		}
		return took, peak, w
	}

	// A first start creates the streams and the consumer; the backlogs are
	// published with no worker running.
	testkit.StartScorer(t, bins.Scorer, "setup", settings).Stop(t, syscall.SIGTERM, 30*time.Second)

	// Baseline in the same run: a backlog of valid applications alone.
	base := &Publisher{JS: js, Subject: "loans.score", Prefix: "alone", Parallel: 32}
	if err := base.Run(ctx, valid); err != nil {
		t.Fatal(err)
	}
	alone, peakAlone, w := drain("worker-alone", int64(valid))
	w.Stop(t, syscall.SIGTERM, 30*time.Second)

	// Then a backlog of as many valid ones with the hostile ones between.
	longID := strings.Repeat("i", 65000)
	hugeState := strings.Repeat("s", 65000)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range hostile {
			msg := &nats.Msg{Subject: "loans.score", Data: App(i), Header: nats.Header{}}
			if i%2 == 0 {
				msg.Header.Set("Nats-Msg-Id", fmt.Sprintf("%s-%d", longID, i))
			} else {
				msg.Header.Set("Nats-Msg-Id", ID("trace", i))
				msg.Header.Set("tracestate", hugeState)
			}
			if _, err := js.PublishMsg(ctx, msg); err != nil {
				t.Errorf("publish hostile %d: %v", i, err)
				return
			}
		}
	})
	mixed := &Publisher{JS: js, Subject: "loans.score", Prefix: "mixed", Parallel: 32}
	if err := mixed.Run(ctx, valid); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	want := int64(2*valid + hostile)
	together, peakMixed, w := drain("worker-mixed", want)

	tally, err := ReadStream(ctx, js, "LOANS_SCORED", false)
	if err != nil {
		t.Fatal(err)
	}
	refused, cut, scored := 0, 0, 0
	for id, r := range tally.Results {
		switch {
		case strings.HasPrefix(id, "LOANS:"):
			if r.Error == nil || r.Error.Fields["Nats-Msg-Id"] != "too_long" {
				t.Errorf("%s: %+v, want an error naming Nats-Msg-Id too_long", id, r)
			}
			refused++
		case strings.HasPrefix(id, "trace-"):
			if r.Proba == nil || len(tally.Headers[id].Get("tracestate")) != 1024 || tally.Headers[id].Get("Header-Truncated") != "tracestate=65000" {
				t.Errorf("%s: scored %v, tracestate %d bytes, Header-Truncated %q", id, r.Proba != nil, len(tally.Headers[id].Get("tracestate")), tally.Headers[id].Get("Header-Truncated"))
			}
			cut++
		default:
			if r.Proba == nil {
				t.Errorf("%s: %+v, want a score", id, r)
			}
			scored++
		}
	}
	dups := tally.Duplicates()
	dl := StreamMsgs(js, "LOANS_DLQ")
	held := w.Metric(t, "scorer_held_messages")
	retries := w.Metric(t, "scorer_publish_retries_total")
	t.Logf("backlog of %d valid alone: drained in %v (%.0f/s), VmHWM %.1f MiB; %d valid + %d hostile: drained in %v (%.0f msgs/s), VmHWM %.1f MiB",
		valid, alone.Round(time.Millisecond), float64(valid)/alone.Seconds(), float64(peakAlone)/(1<<20),
		valid, hostile, together.Round(time.Millisecond), float64(valid+hostile)/together.Seconds(), float64(peakMixed)/(1<<20))
	t.Logf("stored %d (scored %d, long ids refused %d, tracestates cut %d), %d duplicates, %d dead letters, %v held, %v publish retries",
		tally.Total, scored, refused, cut, len(dups), dl, held, retries)
	if int64(tally.Total) != want || len(dups) != 0 || scored != 2*valid || refused != hostile/2 || cut != hostile-hostile/2 {
		t.Fatalf("want every message answered once: %d stored of %d, %d duplicates", tally.Total, want, len(dups))
	}
	if dl != int64(hostile/2) || held != 0 || retries != 0 {
		t.Errorf("%d dead letters (want %d), %v held, %v retries (want 0: nothing here is transient)", dl, hostile/2, held, retries)
	}
	if peakMixed > 256<<20 {
		t.Errorf("worker VmHWM %.1f MiB, want under 256 MiB", float64(peakMixed)/(1<<20))
	}
}

// TestSpoofedMadeUpID: a producer publishes Nats-Msg-Id LOANS:2 just before
// an id-less message lands at sequence 2 (whose made-up id is LOANS:2).
// Both messages must get their own result: the spoof an error result under
// LOANS:1, the id-less message its score under LOANS:2.
func TestSpoofedMadeUpID(t *testing.T) {
	srv := StartServer(t, bins.NATSServer, ServerConfig{})
	testkit.StartScorer(t, bins.Scorer, "worker", ScorerSettings(t, srv.URL()))
	js := ConnectJS(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range []string{"LOANS:2", ""} {
		msg := &nats.Msg{Subject: "loans.score", Data: App(7), Header: nats.Header{}}
		if id != "" {
			msg.Header.Set("Nats-Msg-Id", id)
		}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	WaitStream(t, js, "LOANS_SCORED", 2, time.Minute)
	tally, err := ReadStream(ctx, js, "LOANS_SCORED", false)
	if err != nil {
		t.Fatal(err)
	}
	spoof, victim := tally.Results["LOANS:1"], tally.Results["LOANS:2"]
	t.Logf("stored %d: LOANS:1 %+v, LOANS:2 scored %v", tally.Total, spoof.Error, victim.Proba != nil)
	if victim.Proba == nil || victim.Error != nil {
		t.Errorf("the id-less message (LOANS:2): %+v, want its score", victim)
	}
	if spoof.Error == nil || spoof.Error.Fields["Nats-Msg-Id"] != "reserved" {
		t.Errorf("the spoof (LOANS:1): %+v, want an error naming Nats-Msg-Id reserved", spoof)
	}
	if tally.Total != 2 || len(tally.Duplicates()) != 0 {
		t.Errorf("%d results, duplicates %v", tally.Total, tally.Duplicates())
	}
	st, err := js.Stream(ctx, "LOANS_SCORED")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := st.GetLastMsgForSubject(ctx, "loans.scored.LOANS:2"); err != nil || !strings.Contains(string(m.Data), "default_proba") {
		t.Errorf("nats stream get LOANS_SCORED -S loans.scored.LOANS:2: %v", err)
	}
}

// TestWorkerDownLongerThanTheDedupWindow: a worker whose acks never reach
// the server (the server denies its user $JS.ACK.>, as a partition or a
// crash between storing and acking would lose them) scores every
// application, is killed -9 and stays down longer than stream.duplicates.
// When the restarted worker gets the messages again, the dedup window no
// longer protects their results; before, each was stored a second time
// (1,738 duplicates in 30,000 after a 130 s outage). Now every one is found
// stored and acked: exactly one result per application. Default: 3,000
// applications, duplicates 5 s, 8 s down; FAULT_FULL=1: 30,000, the
// default 2 min window, 130 s down.
func TestWorkerDownLongerThanTheDedupWindow(t *testing.T) {
	n := size(3000, 30000)
	window, down := 5*time.Second, 8*time.Second
	if full() {
		window, down = 2*time.Minute, 130*time.Second
	}
	srv := StartServer(t, bins.NATSServer, ServerConfig{Extra: `authorization: {
  users: [
    {user: admin, password: admin-pw}
    {user: acklost, password: acklost-pw, permissions: {publish: {deny: ["$JS.ACK.>"]}}}
  ]
}
`})
	settings := ScorerSettings(t, srv.URL())
	settings["stream.duplicates"] = window.String()
	// No redelivery while the first worker runs: every message stays
	// pending on it, its result stored, until it is killed.
	settings["consumer.ack_wait"] = "20s"
	settings["consumer.max_ack_pending"] = "65536" // every message unacked at once
	settings["nats.user"] = "acklost"
	w := testkit.StartScorer(t, bins.Scorer, "worker-acks-lost", settings, "SCORER_NATS_PASSWORD=acklost-pw")
	js := ConnectJS(t, srv.URL(), nats.UserInfo("admin", "admin-pw"))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	pub := &Publisher{JS: js, Subject: "loans.score", Prefix: "down", Parallel: 32}
	start := time.Now()
	if err := pub.Run(ctx, n); err != nil {
		t.Fatal(err)
	}
	WaitStream(t, js, "LOANS_SCORED", int64(n), 3*time.Minute)
	_, ackPending, err := ConsumerState(js, "LOANS", "scorer")
	if err != nil {
		t.Fatal(err)
	}
	w.Kill(t)
	t.Logf("every result stored, %d messages unacked; killed the worker (kill -9), down for %v (stream.duplicates %v)", ackPending, down, window)
	time.Sleep(down)
	settings["nats.user"] = "admin"
	w2 := testkit.StartScorer(t, bins.Scorer, "worker-again", settings, "SCORER_NATS_PASSWORD=admin-pw")
	testkit.Eventually(t, 5*time.Minute, "LOANS empty and nothing pending", func() bool {
		pending, ack, err := ConsumerState(js, "LOANS", "scorer")
		return err == nil && pending == 0 && ack == 0 && StreamMsgs(js, "LOANS") == 0
	})
	tally, err := ReadStream(ctx, js, "LOANS_SCORED", false)
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for i := range n {
		if r, ok := tally.Results[ID("down", i)]; !ok || r.Proba == nil {
			missing++
		}
	}
	again := w2.Metric(t, "scorer_results_already_stored_total")
	dups := tally.Duplicates()
	t.Logf("results: %d applications, %d stored, %d missing, %d duplicates; the restarted worker found %v results stored already; %v end to end",
		n, tally.Total, missing, len(dups), again, time.Since(start).Round(time.Millisecond))
	if missing != 0 || len(dups) != 0 || tally.Total != n {
		t.Fatalf("want every application exactly once: %d stored, %d missing, duplicates %v", tally.Total, missing, head(dups, 10))
	}
	if again != float64(ackPending) {
		t.Errorf("the restarted worker found %v results stored, want the %d whose acks were lost", again, ackPending)
	}
}
