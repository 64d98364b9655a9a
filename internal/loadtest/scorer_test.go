package loadtest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/loan-scorer/loan-scorer/internal/service"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
)

// scorer is a real scorer service (demo model) on an embedded JetStream
// server, for the tools to measure.
type scorer struct {
	nc       *nats.Conn
	httpAddr string
}

// startScorer runs service.Run in-process until the test ends; mutate
// changes the configuration first.
func startScorer(t *testing.T, mutate func(*service.Config)) *scorer {
	t.Helper()
	srv, nc := testkit.StartNATS(t)
	cfg := service.DefaultConfig()
	cfg.NATS.URL = srv.ClientURL()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Shutdown.Timeout = 10 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	load := func() (*model.Loaded, error) {
		f, err := modelfile.Parse(demo.Name, demo.Bytes(), modelfile.Options{})
		if err != nil {
			return nil, err
		}
		return model.NewLoaded(f.Model, model.Version(demo.Name, demo.Bytes()), true), nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := make(chan string, 1)
	go func() {
		done <- service.Run(ctx, cfg, service.Options{
			Load: load,
			Log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			Started: func(_, httpAddr string) {
				started <- httpAddr
			},
		})
	}()
	s := &scorer{nc: nc}
	select {
	case s.httpAddr = <-started:
	case err := <-done:
		cancel()
		t.Fatalf("scorer did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("scorer did not start within 30s")
	}
	// Started may run before the micro service's subscription has reached
	// the server (another connection): wait until the sync subject answers.
	waitSync(t, nc.Request)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("scorer shutdown: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("scorer did not stop within 30s")
		}
	})
	return s
}

// targets returns the three targets against s.
func (s *scorer) targets(t *testing.T) []Target {
	t.Helper()
	h := NewHTTP("http://"+s.httpAddr+"/predict", 64)
	t.Cleanup(h.Close)
	a, err := NewAsync(s.nc, "loans.score", "loans.scored", NewRunID(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return []Target{NewNATSSync(s.nc, "loans.score.sync"), h, a}
}

// waitSync polls the sync subject with request until it has a responder.
func waitSync(t *testing.T, request func(string, []byte, time.Duration) (*nats.Msg, error)) {
	t.Helper()
	body := SeedExamples()[0]
	testkit.Eventually(t, 10*time.Second, "loans.score.sync has a responder", func() bool {
		_, err := request("loans.score.sync", body, 2*time.Second)
		return err == nil
	})
}
