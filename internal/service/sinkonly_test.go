package service

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/sink"
)

// TestStandaloneSinkProbesAndMetrics runs the sink as `scorer sink parquet`
// does (RunSink): /readyz is 200 while it reads, /metrics counts the rows
// and files it committed (the files read back with arrow-go hold every id
// once) and its lag reads 0 once they are; with the broker stopped
// /readyz is 503 and the loss is logged at error level at once; after the
// broker's restart it is 200 again. The scrape passes promtool check
// metrics. Before, the standalone sink served nothing and was silent.
func TestStandaloneSinkProbesAndMetrics(t *testing.T) {
	t.Parallel()
	opts := testkit.NATSOptions(t.TempDir())
	opts.Port = testkit.FreePort(t)
	srv := testkit.StartNATSWith(t, opts)
	nc := testkit.Connect(t, srv)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOANS_SCORED", Subjects: []string{"loans.scored", "loans.scored.>"}}); err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		id := fmt.Sprintf("r-%d", i)
		h := nats.Header{}
		h.Set(sink.HeaderMsgID, id)
		h.Set(sink.HeaderModel, "loan-demo@0123456789ab")
		h.Set(sink.HeaderScoredAt, time.Now().UTC().Format(sink.ScoredAtLayout))
		body := fmt.Appendf(nil, `{"id":%q,"default_proba":%g,"model":"loan-demo@0123456789ab"}`, id, float64(i)/1000)
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: sink.IDSubject("loans.scored", id), Header: h, Data: body}); err != nil {
			t.Fatal(err)
		}
	}

	cfg := DefaultConfig()
	cfg.NATS.URL = srv.ClientURL()
	dir := t.TempDir()
	cfg.Sink.Parquet.Dir = dir
	cfg.Sink.Parquet.Consumer = "files"
	cfg.Sink.Parquet.MaxAge = 200 * time.Millisecond
	cfg.Sink.Parquet.HTTPAddr = "127.0.0.1:0"
	logs := &testkit.Buffer{}
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- RunSink(ctx, cfg, SinkOptions{Log: slog.New(slog.NewTextHandler(logs, nil)), Started: func(a string) { addr <- a }})
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("RunSink: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatal("the sink did not start")
	}
	if code := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	testkit.Eventually(t, 20*time.Second, "/readyz 200 while reading", func() bool { return get(t, base+"/readyz") == 200 })

	labels := `{consumer="files",stream="LOANS_SCORED"}`
	var page string
	testkit.Eventually(t, 30*time.Second, "every result committed, lag 0", func() bool {
		page = getBody(t, base+"/metrics")
		return metricValue(page, "scorer_sink_rows_total") == n && metricValue(page, "scorer_sink_lag_messages"+labels) == 0
	})
	if v := metricValue(page, "scorer_sink_files_total"); v < 1 {
		t.Errorf("scorer_sink_files_total %v", v)
	}
	if v := metricValue(page, "scorer_sink_last_commit_timestamp_seconds"); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("scorer_sink_last_commit_timestamp_seconds %v: not a recent commit", v)
	}
	if v := metricValue(page, "scorer_sink_reading"); v != 1 {
		t.Errorf("scorer_sink_reading %v while reading", v)
	}
	if !strings.Contains(page, "scorer_build_info{") {
		t.Error("no scorer_build_info")
	}
	checkMetrics(t, page)
	ids, rows, err := testkit.ParquetIDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rows != n || len(ids) != n {
		t.Errorf("files hold %d rows of %d ids, want %d each", rows, len(ids), n)
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	testkit.Eventually(t, 20*time.Second, "/readyz 503 with the broker down", func() bool { return get(t, base+"/readyz") == 503 })
	testkit.Eventually(t, 10*time.Second, "the loss logged", func() bool {
		return strings.Contains(logs.String(), `level=ERROR msg="lost the NATS connection`)
	})
	testkit.StartNATSWith(t, opts)
	testkit.Eventually(t, 60*time.Second, "/readyz 200 after the broker's restart", func() bool { return get(t, base+"/readyz") == 200 })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunSink: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the sink did not stop")
	}
}
