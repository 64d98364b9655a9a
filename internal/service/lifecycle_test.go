package service

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// TestServeStopsWhenItsConsumerIsDeleted: a service whose durable consumer
// is deleted under it cannot consume any more; it stops every component
// in order and returns the failure (the process exits non-zero, and its
// restart recreates the consumer), instead of retrying fetches for ever
// while /readyz says ready.
func TestServeStopsWhenItsConsumerIsDeleted(t *testing.T) {
	t.Parallel()
	path := xgbModel
	var mu sync.Mutex
	srv, nc := testkit.StartNATS(t)
	r := startService(t, testConfig(srv.ClientURL()), fileLoader(&path, &mu))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	testkit.Eventually(t, 10*time.Second, "the service's fetches waiting", func() bool {
		c, err := js.Consumer(ctx, "LOANS", "scorer")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumWaiting > 0
	})
	if err := js.DeleteConsumer(ctx, "LOANS", "scorer"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.done:
		r.cancel = nil
		if !errors.Is(err, jetstream.ErrConsumerDeleted) || !strings.Contains(err.Error(), "async consumer") {
			t.Fatalf("Run: %v, want the consumer's failure", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("the service kept running without its consumer\n%s", r.logs)
	}
	for _, want := range []string{`"msg":"failed: stopping the service","component":"async consumer"`, `"msg":"shutting down"`, `"msg":"stopped"`} {
		if !strings.Contains(r.logs.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

// TestConnectionClosedForGoodIsAFailure: the connection component's Run
// ends with ErrConnectionClosed when the connection closes without Stop,
// and with nil after Stop drained it.
func TestConnectionClosedForGoodIsAFailure(t *testing.T) {
	t.Parallel()
	srv, _ := testkit.StartNATS(t)
	for _, stop := range []bool{false, true} {
		c, err := dial(srv.ClientURL(), []nats.Option{nats.Name(t.Name())})
		if err != nil {
			t.Fatal(err)
		}
		runErr := make(chan error, 1)
		go func() { runErr <- c.Run(context.Background()) }()
		if stop {
			if err := c.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
		} else {
			c.nc.Close() // closed for good, not by Stop
		}
		select {
		case err := <-runErr:
			if stop && err != nil {
				t.Errorf("Run after Stop: %v", err)
			}
			if !stop && !errors.Is(err, ErrConnectionClosed) {
				t.Errorf("Run after a close: %v, want ErrConnectionClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
		}
	}
}
