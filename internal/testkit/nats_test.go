package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestStartHasJetStream(t *testing.T) {
	srv, nc := StartNATS(t)
	if !srv.JetStreamEnabled() {
		t.Fatal("server has no JetStream")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "t.x", []byte("hi")); err != nil {
		t.Fatalf("publish: %v", err)
	}

	nc2 := Connect(t, srv)
	got := make(chan string, 1)
	if _, err := nc2.Subscribe("core", func(m *nats.Msg) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if err := nc2.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("core", []byte("ok")); err != nil {
		t.Fatal(err)
	}
	var msg string
	Eventually(t, 5*time.Second, "message on a second connection", func() bool {
		select {
		case msg = <-got:
			return true
		default:
			return false
		}
	})
	if msg != "ok" {
		t.Fatalf("got %q, want ok", msg)
	}
}

func TestEventuallyReportsTheWait(t *testing.T) {
	start := time.Now()
	calls := 0
	took := Eventually(t, 5*time.Second, "third call", func() bool {
		calls++
		return calls == 3
	})
	if calls != 3 || took <= 0 || took > time.Since(start) {
		t.Fatalf("%d calls, took %v", calls, took)
	}
}
