package sink

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// sinkConsumer returns the current state of the sink's durable consumer on
// LOANS_SCORED, or nil while it cannot be read.
func sinkConsumer(js jetstream.JetStream, name string) *jetstream.ConsumerInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, "LOANS_SCORED", name)
	if err != nil {
		return nil
	}
	return c.CachedInfo()
}

// TestParquetSinkRecoversDeliveriesTakenByAnotherPuller makes deliveries of
// the sink's consumer go somewhere else, as a pull inbox that drops
// messages does: a second client pulls from the sink's durable consumer
// while the sink reads, and never acknowledges what it got. The sink sees
// its consumer sequence jump, commits what followed on, recreates its
// consumer after it, and the files end up holding every result once.
// Before the sink checked the consumer sequence it appended whatever came
// next and acknowledged the gap with its file: the taken results were
// lost.
func TestParquetSinkRecoversDeliveriesTakenByAnotherPuller(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	resultsStream(t, js)
	dir := t.TempDir()
	cfg := testParquetConfig()
	// Pulls of two: the other client's pull request is served between two
	// of the sink's.
	cfg.Dir, cfg.FetchBatch, cfg.MaxAge = dir, 2, time.Second
	want := map[string]testResult{}
	publishResults(t, js, 0, 10, want)
	var recovered atomic.Int64
	stop := runSink(t, js, cfg, ParquetOptions{Recovered: func() { recovered.Add(1) }})
	name := ConsumerName(dir)
	testkit.Eventually(t, 20*time.Second, "the first 10 delivered to the sink", func() bool {
		ci := sinkConsumer(js, name)
		return ci != nil && ci.Delivered.Stream == 10
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other, err := js.Consumer(ctx, "LOANS_SCORED", name)
	if err != nil {
		t.Fatal(err)
	}
	taken := make(chan int, 1)
	go func() {
		n := 0
		if batch, err := other.Fetch(5, jetstream.FetchMaxWait(20*time.Second)); err == nil {
			for range batch.Messages() {
				n++
			}
		}
		taken <- n
	}()
	testkit.Eventually(t, 20*time.Second, "the other pull request waiting beside the sink's", func() bool {
		ci := sinkConsumer(js, name)
		return ci != nil && ci.NumWaiting >= 2
	})
	publishResults(t, js, 10, 40, want)
	if n := <-taken; n == 0 {
		t.Fatal("setup: the other client got no delivery, nothing was taken from the sink")
	} else {
		t.Logf("another client took %d deliveries of the sink's consumer", n)
	}
	testkit.Eventually(t, 30*time.Second, "files named for all 50 sequences", func() bool { return countRows(dir) >= 50 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got, _ := readDir(t, dir)
	compareResults(t, got, want)
	if recovered.Load() == 0 {
		t.Error("no gap recovery counted")
	}
}

// TestParquetSinkRecoversAConsumerReset resets the sink's consumer to a
// later sequence while it reads, skipping results; its deliveries start
// again at consumer sequence 1, as after a broker restart that rolled the
// consumer's state back. The sink must notice the sequence going back,
// commit what followed on and read again from there, so the skipped
// results land in the files too. Before, they were skipped for good.
func TestParquetSinkRecoversAConsumerReset(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	resultsStream(t, js)
	dir := t.TempDir()
	cfg := testParquetConfig()
	cfg.Dir, cfg.MaxAge = dir, time.Second
	want := map[string]testResult{}
	publishResults(t, js, 0, 10, want)
	var recovered atomic.Int64
	stop := runSink(t, js, cfg, ParquetOptions{Recovered: func() { recovered.Add(1) }})
	name := ConsumerName(dir)
	testkit.Eventually(t, 20*time.Second, "the first 10 delivered to the sink", func() bool {
		ci := sinkConsumer(js, name)
		return ci != nil && ci.Delivered.Stream == 10
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.ResetConsumerToSequence(ctx, "LOANS_SCORED", name, 21); err != nil {
		t.Fatalf("reset the sink's consumer: %v", err)
	}
	publishResults(t, js, 10, 20, want) // sequences 11..30; the reset consumer skips 11..20
	testkit.Eventually(t, 30*time.Second, "files named for all 30 sequences", func() bool { return countRows(dir) >= 30 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got, _ := readDir(t, dir)
	compareResults(t, got, want)
	if recovered.Load() == 0 {
		t.Error("no gap recovery counted")
	}
}

// serveSink runs Serve in the background and returns its stop function,
// which returns Serve's error.
func serveSink(t *testing.T, s *Parquet) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// TestParquetSinkServeRestartsAfterAFailure deletes the sink's consumer
// under it: the pull fails, and Serve must start the sink again from its
// files (recreating the consumer) instead of ending.
func TestParquetSinkServeRestartsAfterAFailure(t *testing.T) {
	t.Parallel()
	testkit.NeedFull(t, "waits out the sink's restart backoff")
	_, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	resultsStream(t, js)
	dir := t.TempDir()
	cfg := testParquetConfig()
	cfg.Dir, cfg.MaxAge = dir, 300*time.Millisecond
	want := map[string]testResult{}
	publishResults(t, js, 0, 10, want)
	s, err := NewParquet(js, cfg, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stop := serveSink(t, s)
	testkit.Eventually(t, 20*time.Second, "the first 10 written", func() bool { return countRows(dir) == 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteConsumer(ctx, "LOANS_SCORED", s.Consumer()); err != nil {
		t.Fatal(err)
	}
	publishResults(t, js, 10, 10, want)
	testkit.Eventually(t, 30*time.Second, "all 20 written", func() bool { return countRows(dir) == 20 })
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if s.Restarts() == 0 {
		t.Error("the consumer was deleted under the sink, but Serve counted no restart")
	}
	got, _ := readDir(t, dir)
	compareResults(t, got, want)
}

// TestParquetSinkServeSurvivesABrokerRestart stops the NATS server under a
// sink run by Serve and starts it again on the same port and store: the
// sink must carry on and write what is published afterwards, every result
// once.
func TestParquetSinkServeSurvivesABrokerRestart(t *testing.T) {
	t.Parallel()
	testkit.NeedFull(t, "waits out a broker restart and the sink's backoff")
	opts := testkit.NATSOptions(t.TempDir())
	opts.Port = testkit.FreePort(t)
	srv := testkit.StartNATSWith(t, opts)
	nc := testkit.Connect(t, srv, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	js, _ := jetstream.New(nc)
	resultsStream(t, js)
	dir := t.TempDir()
	cfg := testParquetConfig()
	cfg.Dir, cfg.MaxAge = dir, 300*time.Millisecond
	want := map[string]testResult{}
	publishResults(t, js, 0, 10, want)
	s, err := NewParquet(js, cfg, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stop := serveSink(t, s)
	testkit.Eventually(t, 20*time.Second, "the first 10 written", func() bool { return countRows(dir) == 10 })
	srv.Shutdown()
	srv.WaitForShutdown()
	testkit.Eventually(t, 10*time.Second, "the client notices", func() bool { return !nc.IsConnected() })
	testkit.StartNATSWith(t, opts)
	testkit.Eventually(t, 20*time.Second, "the client reconnects", nc.IsConnected)
	publishResults(t, js, 10, 10, want)
	testkit.Eventually(t, time.Minute, "all 20 written", func() bool { return countRows(dir) == 20 })
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	got, _ := readDir(t, dir)
	compareResults(t, got, want)
	t.Logf("restarts %d, gap recoveries %d", s.Restarts(), s.GapRecoveries())
}

// TestParquetSinkServeStopsOnALockedDirectory: a directory held by another
// sink is not a transient failure; Serve returns ErrSinkLocked at once.
func TestParquetSinkServeStopsOnALockedDirectory(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	resultsStream(t, js)
	dir := t.TempDir()
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	cfg := testParquetConfig()
	cfg.Dir = dir
	s, err := NewParquet(js, cfg, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Serve(ctx); !errors.Is(err, ErrSinkLocked) {
		t.Fatalf("Serve: %v, want ErrSinkLocked", err)
	}
	if ctx.Err() != nil || s.Restarts() != 0 {
		t.Errorf("Serve retried a locked directory (%d restarts)", s.Restarts())
	}
}
