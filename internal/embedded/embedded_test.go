package embedded

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
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

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.2": true, "::1": true, "localhost": true, "LOCALHOST": true,
		"0.0.0.0": false, "::": false, "": false, "10.0.0.5": false, "scorer.internal": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// A host other than loopback logs a loud warning before anything listens
// (the server has no authentication); an address the machine does not have
// fails at once with the key named, not after the 10 s readiness wait. The
// test never listens off loopback: 192.0.2.1 (TEST-NET-1) is on no
// interface here, so binding it fails without a packet sent.
func TestStartWarnsOffLoopback(t *testing.T) {
	ctx := context.Background()
	var logs testkit.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	_, err := Start(ctx, Config{Host: "192.0.2.1", Port: -1, StoreDir: t.TempDir()}, log)
	if err == nil || !strings.Contains(err.Error(), "nats.embedded.host 192.0.2.1") || !strings.Contains(err.Error(), "cannot listen") {
		t.Errorf("Start on an address this machine lacks: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "UNAUTHENTICATED NATS") {
		t.Errorf("no loud warning for a non-loopback host:\n%s", logs.String())
	}

	var loopLogs testkit.Buffer
	srv, err := Start(ctx, Config{Host: "127.0.0.1", Port: -1, StoreDir: t.TempDir()}, slog.New(slog.NewTextHandler(&loopLogs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	if strings.Contains(loopLogs.String(), "UNAUTHENTICATED") {
		t.Errorf("a warning on loopback:\n%s", loopLogs.String())
	}
}
