package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// fetchRig is the input stream and the durable consumer on a real server.
func fetchRig(t *testing.T, change func(*ingest.Topology)) (*nats.Conn, jetstream.JetStream, jetstream.Consumer, ingest.Topology) {
	t.Helper()
	_, nc := testkit.StartNATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	topo := ingest.DefaultTopology()
	if change != nil {
		change(&topo)
	}
	cons, err := ingest.Setup(context.Background(), js, topo, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, cons, topo
}

func publishN(t *testing.T, js jetstream.JetStream, n int) {
	t.Helper()
	for i := range n {
		m := nats.NewMsg("loans.score")
		m.Data = fmt.Appendf(nil, `{"n":%d}`, i)
		m.Header.Set(ingest.HeaderMsgID, fmt.Sprintf("f-%d", i))
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFetcherDeliversWithMetadataAndDrains: every message arrives once as
// a Delivery carrying its place in the stream, its headers and payload,
// and settles through its own functions; Drain ends Run with nil.
func TestFetcherDeliversWithMetadataAndDrains(t *testing.T) {
	_, js, cons, topo := fetchRig(t, nil)
	const n = 50
	publishN(t, js, n)
	f := ingest.NewFetcher(cons, topo.Consumer, 0, nil, nil)
	var mu sync.Mutex
	seen := map[uint64]ingest.Delivery{}
	runErr := make(chan error, 1)
	go func() {
		runErr <- f.Run(func(d ingest.Delivery) {
			mu.Lock()
			seen[d.Seq] = d
			mu.Unlock()
			if err := d.Ack(); err != nil {
				t.Error(err)
			}
		})
	}()
	testkit.Eventually(t, 20*time.Second, "every message delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run after Drain: %v", err)
	}
	for seq := uint64(1); seq <= n; seq++ {
		d := seen[seq]
		want := fmt.Sprintf("f-%d", seq-1)
		if d.Stream != "LOANS" || d.Deliveries != 1 || d.Subject != "loans.score" || d.Header.Get(ingest.HeaderMsgID) != want ||
			string(d.Data) != fmt.Sprintf(`{"n":%d}`, seq-1) || d.Received.IsZero() {
			t.Errorf("seq %d: %+v", seq, d)
		}
	}
	testkit.Eventually(t, 10*time.Second, "every ack in", func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.AckFloor.Stream == n
	})
}

// TestFetcherShedsPastTheDrainDeadline: a handler that holds its fetch
// past Drain's deadline makes Drain report it, and the messages still
// arriving are nak'ed without reaching the handler.
func TestFetcherShedsPastTheDrainDeadline(t *testing.T) {
	_, js, cons, topo := fetchRig(t, func(t *ingest.Topology) { t.Consumer.PullMaxMessages = 20 })
	publishN(t, js, 30)
	f := ingest.NewFetcher(cons, topo.Consumer, 0, nil, nil)
	release := make(chan struct{})
	var mu sync.Mutex
	handled := 0
	runErr := make(chan error, 1)
	go func() {
		runErr <- f.Run(func(d ingest.Delivery) {
			mu.Lock()
			handled++
			first := handled <= 2
			mu.Unlock()
			if first {
				<-release // both fetch loops stuck in their first message
			}
			_ = d.Ack()
		})
	}()
	testkit.Eventually(t, 10*time.Second, "both fetches handling", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return handled == 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// Drain gives up waiting for the stuck fetches (a grace period after
	// its deadline); only then are the handlers let go, so every message
	// they would take next arrives past the deadline.
	if err := f.Drain(ctx); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain past its deadline: %v", err)
	}
	close(release)
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if handled != 2 {
		t.Errorf("%d messages reached the handler, want the 2 taken before the deadline", handled)
	}
}

// TestFetcherFailsWhenTheConsumerIsDeleted: fetching again cannot bring a
// deleted consumer back, so Run ends with the error (the service then
// stops, and a restarted process recreates the consumer).
func TestFetcherFailsWhenTheConsumerIsDeleted(t *testing.T) {
	_, js, cons, topo := fetchRig(t, nil)
	f := ingest.NewFetcher(cons, topo.Consumer, 0, nil, nil)
	runErr := make(chan error, 1)
	go func() { runErr <- f.Run(func(d ingest.Delivery) { _ = d.Ack() }) }()
	// Let a fetch be pending, then delete the consumer under it.
	testkit.Eventually(t, 10*time.Second, "a pull request waiting", func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.NumWaiting > 0
	})
	if err := js.DeleteConsumer(context.Background(), topo.Stream.Name, topo.Consumer.Name); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-runErr:
		if !errors.Is(err, jetstream.ErrConsumerDeleted) {
			t.Fatalf("Run: %v, want ErrConsumerDeleted", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end after its consumer was deleted")
	}
}
