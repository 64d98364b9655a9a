package faulttest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/sink"
)

// BenchmarkResultStorage measures what storing results once per id costs
// the server, against the old layout, on a real nats-server (file
// storage) in the same run:
//
//   - one-subject: every result on loans.scored, deduplicated only by
//     Nats-Msg-Id within the 2 min window (the layout before);
//   - per-id: every result on loans.scored.<id> with
//     Nats-Expected-Last-Subject-Sequence: 0 (stored once per id for as
//     long as the stream keeps it) and Nats-Msg-Id.
//
// Each publishes RESULTS_N (default 200,000) results of the size the
// scorer writes, with 4,096 async publishes in flight, and reports
// results/s, the server's VmRSS after the run and after a restart (the
// per-subject index is rebuilt from the store) and its store size.
//
//	RESULTS_N=3000000 go test ./internal/faulttest -run '^$' -bench ResultStorage -benchtime 1x -timeout 30m
func BenchmarkResultStorage(b *testing.B) {
	n := 200_000
	if v := os.Getenv("RESULTS_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("RESULTS_N: %v", err)
		}
	}
	for _, perID := range []bool{false, true} {
		name := "one-subject"
		if perID {
			name = "per-id"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				storeResults(b, n, perID)
			}
		})
	}
}

func storeResults(b *testing.B, n int, perID bool) {
	srv := StartServer(b, bins.NATSServer, ServerConfig{})
	nc := Connect(b, srv.URL())
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOANS_SCORED", Subjects: []string{"loans.scored", "loans.scored.>"},
		Duplicates: 2 * time.Minute, Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	_, before, err := srv.Proc().Memory()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		id := fmt.Sprintf("bench-%012d-0123456789ab", i) // 30 bytes, like a ULID or ingest id
		msg := &nats.Msg{Subject: "loans.scored", Header: nats.Header{}, Data: fmt.Appendf(nil, `{"id":%q,"default_proba":0.%016d,"model":"loan-demo@b6724884a4eb"}`, id, i)}
		msg.Header.Set(sink.HeaderMsgID, id)
		msg.Header.Set(sink.HeaderModel, "loan-demo@b6724884a4eb")
		msg.Header.Set(sink.HeaderScoredAt, "2026-12-04T21:40:08.123Z")
		if perID {
			msg.Subject = sink.IDSubject("loans.scored", id)
			msg.Header.Set(sink.HeaderExpectedLastSubjectSeq, "0")
		}
		if _, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal(ctx.Err())
	}
	took := time.Since(start)
	b.StopTimer()
	st, err := js.Stream(ctx, "LOANS_SCORED")
	if err != nil {
		b.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if info.State.Msgs != uint64(n) {
		b.Fatalf("%d stored, want %d", info.State.Msgs, n)
	}
	rss, peak, err := srv.Proc().Memory()
	if err != nil {
		b.Fatal(err)
	}
	nc.Close()
	srv.Stop(b)
	srv.Restart(b)
	nc = Connect(b, srv.URL())
	js, _ = jetstream.New(nc)
	testkit.Eventually(b, 5*time.Minute, "stream back after the restart", func() bool { return StreamMsgs(js, "LOANS_SCORED") == int64(n) })
	rssRestart, _, err := srv.Proc().Memory()
	if err != nil {
		b.Fatal(err)
	}
	mib := func(v int64) float64 { return float64(v) / (1 << 20) }
	b.ReportMetric(float64(n)/took.Seconds(), "results/s")
	b.ReportMetric(mib(rss), "server-rss-MiB")
	b.ReportMetric(mib(peak), "server-hwm-MiB")
	b.ReportMetric(mib(rssRestart), "rss-after-restart-MiB")
	b.ReportMetric(float64(info.State.Bytes)/float64(n), "store-B/result")
	b.Logf("%d results in %v; server VmRSS %.1f MiB before, %.1f after (peak %.1f), %.1f after a restart; store %.1f MiB",
		n, took.Round(time.Millisecond), mib(before), mib(rss), mib(peak), mib(rssRestart), float64(info.State.Bytes)/(1<<20))
}
