package sink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// BenchmarkParquetSink reports how many results per second the sink moves
// from LOANS_SCORED (an in-process server, file store) into committed
// files of 100,000 rows. The results are published before the timer.
func BenchmarkParquetSink(b *testing.B) {
	const n = 200_000
	b.StopTimer()
	for range b.N {
		_, nc := testkit.StartNATS(b)
		js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
		ctx := context.Background()
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOANS_SCORED", Subjects: []string{"loans.scored"}}); err != nil {
			b.Fatal(err)
		}
		at := time.Now().UTC().Format(ScoredAtLayout)
		for i := range n {
			id := fmt.Sprintf("app-%d", i)
			h := nats.Header{HeaderMsgID: {id}, HeaderModel: {"loan-demo@0123456789ab"}, HeaderScoredAt: {at}}
			body := fmt.Appendf(nil, `{"id":%q,"default_proba":0.%d,"model":"loan-demo@0123456789ab"}`, id, i)
			if _, err := js.PublishMsgAsync(&nats.Msg{Subject: "loans.scored", Header: h, Data: body}, jetstream.WithStallWait(time.Minute)); err != nil {
				b.Fatal(err)
			}
		}
		<-js.PublishAsyncComplete()
		dir := b.TempDir()
		cfg := testParquetConfig()
		cfg.Dir = dir
		s, err := NewParquet(js, cfg, ParquetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		b.StartTimer()
		go func() { done <- s.Run(rctx) }()
		deadline := time.Now().Add(5 * time.Minute)
		for countRows(dir) < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		b.StopTimer()
		cancel()
		if err := <-done; err != nil || countRows(dir) != n {
			b.Fatalf("run: %v, %d rows", err, countRows(dir))
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "results/s")
}
