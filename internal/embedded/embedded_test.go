package embedded

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestStartThenJoin(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{Host: "127.0.0.1", Port: -1, StoreDir: t.TempDir()}
	first, err := Start(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown()
	if first.Joined() || first.NATS() == nil {
		t.Fatalf("first Start joined=%v, want a new server", first.Joined())
	}
	if !first.NATS().JetStreamEnabled() {
		t.Fatal("embedded server has no JetStream")
	}

	u, err := url.Parse(first.URL())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	cfg.Port = port
	second, err := Start(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Shutdown() // a no-op for a joined server
	if !second.Joined() || second.NATS() != nil {
		t.Fatalf("second Start on the same port: joined=%v, want joined", second.Joined())
	}
	nc, err := nats.Connect(second.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("joined server has no JetStream: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{
		{Host: "", Port: 4222, StoreDir: "data"},
		{Host: "127.0.0.1", Port: 70000, StoreDir: "data"},
		{Host: "127.0.0.1", Port: 4222, StoreDir: ""},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", c)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
}
