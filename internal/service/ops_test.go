package service

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/buildinfo"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// metricValue reads one series' value from a /metrics page (-1: absent).
func metricValue(page, series string) float64 {
	for line := range strings.SplitSeq(page, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// publishApps publishes n copies of app with ids prefix-0.. and waits for
// every publish ack.
func publishApps(t *testing.T, js jetstream.JetStream, prefix string, n int) {
	t.Helper()
	futures := make([]jetstream.PubAckFuture, 0, n)
	for i := range n {
		f, err := js.PublishAsync("loans.score", []byte(app), jetstream.WithMsgID(prefix+"-"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-time.After(30 * time.Second):
			t.Fatal("publish ack timed out")
		}
	}
}

// TestConsumerFiguresTellTheTruth: after a backlog is worked off, the
// consumer figures on /metrics read 0 (they come from the consumer's
// info, refreshed by the scrape); before, scorer_consumer_lag_messages
// kept the num_pending of the last message handled, and an idle system
// showed a lag for ever. The same scrape passes promtool check metrics.
func TestConsumerFiguresTellTheTruth(t *testing.T) {
	t.Parallel()
	srv, nc := testkit.StartNATS(t)
	var mu sync.Mutex
	path := xgbModel
	r := startService(t, testConfig(srv.ClientURL()), fileLoader(&path, &mu))
	js, _ := jetstream.New(nc)
	const n = 3000
	publishApps(t, js, "backlog", n)
	testkit.WaitStream(t, js, "LOANS_SCORED", n, time.Minute)

	url := "http://" + r.httpAddr + "/metrics"
	labels := `{consumer="scorer",stream="LOANS"}`
	var page string
	// Results are stored before their inputs are acked: wait until the
	// worker has settled every message, then past the second within which
	// a scrape reuses the last consumer info (metrics.Consumer), so the
	// zeros below are read after the backlog, not from before it.
	testkit.Eventually(t, 20*time.Second, "every message settled", func() bool {
		return metricValue(getBody(t, url), `scorer_deliveries_total{action="ack"}`) >= n
	})
	time.Sleep(1100 * time.Millisecond)
	testkit.Eventually(t, 20*time.Second, "consumer figures at 0", func() bool {
		page = getBody(t, url)
		return metricValue(page, "scorer_consumer_pending_messages"+labels) == 0 &&
			metricValue(page, "scorer_consumer_ack_pending_messages"+labels) == 0
	})
	for _, series := range []string{
		"scorer_consumer_redelivered_messages" + labels,
		"scorer_consumer_oldest_unacked_age_seconds" + labels,
	} {
		if v := metricValue(page, series); v != 0 {
			t.Errorf("%s = %v on an idle system, want 0", series, v)
		}
	}
	// Each message once per family: finished messages, settled deliveries.
	if v := metricValue(page, `scorer_messages_total{outcome="scored"}`); v != n {
		t.Errorf("scored %v, want %d", v, n)
	}
	if v := metricValue(page, `scorer_deliveries_total{action="ack"}`); v != n {
		t.Errorf("acked deliveries %v, want %d", v, n)
	}
	// The results stream against its limit (results.max_bytes, 1 GiB by
	// default), for the alert before it fills.
	if v := metricValue(page, `scorer_stream_messages{stream="LOANS_SCORED"}`); v != n {
		t.Errorf("scorer_stream_messages of LOANS_SCORED %v, want %d", v, n)
	}
	if v := metricValue(page, `scorer_stream_max_bytes{stream="LOANS_SCORED"}`); v != 1<<30 {
		t.Errorf("scorer_stream_max_bytes of LOANS_SCORED %v, want %d", v, 1<<30)
	}
	if v := metricValue(page, `scorer_stream_bytes{stream="LOANS_SCORED"}`); v < 100*n {
		t.Errorf("scorer_stream_bytes of LOANS_SCORED %v for %d results", v, n)
	}
	if strings.Contains(page, "scorer_consumer_lag_messages") {
		t.Error("the stale scorer_consumer_lag_messages is still exported")
	}
	if !regexp.MustCompile(`scorer_build_info\{goversion="go[^"]+",revision="[^"]+",version="[^"]+"\} 1`).MatchString(page) {
		t.Errorf("no scorer_build_info:\n%s", grep(page, "build_info"))
	}
	checkMetrics(t, page)
}

// checkMetrics runs promtool check metrics (Prometheus's own lint of
// names, types, units and help) on a /metrics page.
func checkMetrics(t *testing.T, page string) {
	t.Helper()
	cmd := exec.Command(testkit.Promtool(t), "check", "metrics")
	cmd.Stdin = strings.NewReader(page)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}

// TestFullResultsStreamHoldsThenDrains fills a results stream bounded by
// results.max_bytes: at the limit JetStream refuses results (discard
// new), the scorer holds the inputs and retries, dead-letters nothing,
// and once old results expire (results.max_age) every application gets
// its result, each once.
func TestFullResultsStreamHoldsThenDrains(t *testing.T) {
	t.Parallel()
	srv, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	cfg := testConfig(srv.ClientURL())
	cfg.Results.MaxBytes = 32 << 10 // about 100 results of this size
	cfg.Results.MaxAge = 3 * time.Second
	cfg.Stream.Duplicates = time.Second
	cfg.Consumer.NakDelay = 100 * time.Millisecond
	var mu sync.Mutex
	path := xgbModel
	r := startService(t, cfg, fileLoader(&path, &mu))

	// Every result, as it is stored: the stream forgets them as they expire.
	seen := map[string]int{}
	var seenMu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, "LOANS_SCORED", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		seenMu.Lock()
		seen[m.Headers().Get("Nats-Msg-Id")]++
		seenMu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()

	const n = 400
	publishApps(t, js, "full", n)
	url := "http://" + r.httpAddr + "/metrics"
	testkit.Eventually(t, 30*time.Second, "messages held at the limit", func() bool {
		return metricValue(getBody(t, url), "scorer_held_messages") > 0
	})
	stored := func() int {
		seenMu.Lock()
		defer seenMu.Unlock()
		return len(seen)
	}
	if got := stored(); got >= n {
		t.Fatalf("all %d results stored although the stream holds about 100", got)
	}
	testkit.Eventually(t, 2*time.Minute, "every result stored as old ones expire", func() bool { return stored() == n })
	seenMu.Lock()
	for id, c := range seen {
		if c != 1 {
			t.Errorf("result %s stored %d times", id, c)
		}
	}
	seenMu.Unlock()
	page := getBody(t, url)
	if v := metricValue(page, "scorer_dead_letters_total"); v != 0 {
		t.Errorf("%v dead letters, want 0", v)
	}
	if v := metricValue(page, `scorer_messages_total{outcome="scored"}`); v != n {
		t.Errorf("scored %v, want %d", v, n)
	}
	if v := metricValue(page, "scorer_publish_retries_total"); v <= 0 {
		t.Error("no publish was retried: the stream was never full")
	}
	if dl := testkit.StreamMsgs(js, "LOANS_DLQ"); dl != 0 {
		t.Errorf("%d dead letters stored", dl)
	}
}

// TestReadyzFollowsTheNATSConnection: /readyz answers 503 while the
// broker is down and 200 again once the connection is back.
func TestReadyzFollowsTheNATSConnection(t *testing.T) {
	t.Parallel()
	opts := testkit.NATSOptions(t.TempDir())
	opts.Port = testkit.FreePort(t)
	srv := testkit.StartNATSWith(t, opts)
	var mu sync.Mutex
	path := xgbModel
	r := startService(t, testConfig(srv.ClientURL()), fileLoader(&path, &mu))
	ready := "http://" + r.httpAddr + "/readyz"
	if code := get(t, ready); code != 200 {
		t.Fatalf("/readyz %d while connected", code)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	testkit.Eventually(t, 20*time.Second, "/readyz 503 with the broker down", func() bool { return get(t, ready) == 503 })
	if !strings.Contains(r.logs.String(), "lost the NATS connection") {
		t.Errorf("the lost connection was not logged:\n%s", testkit.Tail(r.logs.String(), 10))
	}
	testkit.StartNATSWith(t, opts)
	testkit.Eventually(t, 30*time.Second, "/readyz 200 after the reconnect", func() bool { return get(t, ready) == 200 })
}

// TestSyncServiceMetadata: `nats micro info loan-scorer` (the
// $SRV.INFO request it makes) shows the scorer's build and the model
// version the service started with. Before, the metadata was empty.
func TestSyncServiceMetadata(t *testing.T) {
	t.Parallel()
	srv, nc := testkit.StartNATS(t)
	var mu sync.Mutex
	path := xgbModel
	startService(t, testConfig(srv.ClientURL()), fileLoader(&path, &mu))
	msg, err := nc.Request("$SRV.INFO.loan-scorer", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(msg.Data, &info); err != nil {
		t.Fatal(err)
	}
	want, err := fileLoader(&path, &mu)()
	if err != nil {
		t.Fatal(err)
	}
	if info.Metadata["model_at_start"] != want.Version || info.Metadata["scorer"] != buildinfo.Read().String() {
		t.Errorf("metadata %v, want model_at_start %s and scorer %q", info.Metadata, want.Version, buildinfo.Read().String())
	}
}
