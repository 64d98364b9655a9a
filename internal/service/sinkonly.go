package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/sink"
)

// SinkOptions are what RunSink needs beyond the configuration.
type SinkOptions struct {
	// Log receives the structured log; nil uses slog.Default().
	Log *slog.Logger
	// Crash is the sink's test-only crash hook (sink.ParquetOptions.Crash).
	Crash func(point string)
	// Started, when set, is called once the sink's HTTP server listens,
	// with its address ("" when sink.parquet.http_addr is empty).
	Started func(httpAddr string)
}

// RunSink runs the Parquet sink on its own (`scorer sink parquet`): it
// connects to cfg.NATS.URL with serve's authentication and TLS keys, reads
// results.stream into sink.parquet.dir, and serves on
// sink.parquet.http_addr /healthz (200 while the process runs), /readyz
// (200 while connected to NATS and reading the stream, 503 otherwise) and
// /metrics (the sink's figures, its consumer's lag, scorer_build_info and
// the Go runtime's). Losing NATS is logged at error level at once. It
// returns when ctx ends, after committing the open file, or with the
// failure that no restart can mend (see sink.Parquet.Serve).
func RunSink(ctx context.Context, cfg Config, opts SinkOptions) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	pc := cfg.Sink.Parquet.ParquetConfig
	if pc.Dir == "" {
		return errors.New("sink.parquet.dir: must be set to run the Parquet sink (--dir)")
	}
	pc.Stream = cfg.Results.Stream
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	var ln net.Listener
	if addr := cfg.Sink.Parquet.HTTPAddr; addr != "" {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("sink.parquet.http_addr %s: %w", addr, err)
		}
		defer ln.Close()
	}
	nc, err := cfg.NATS.Connect("loan-scorer parquet sink", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted(), "auth", cfg.NATS.AuthMethod())
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics.RegisterBuildInfo(reg)
	p, watch, err := newSink(js, pc, reg, sink.ParquetOptions{Log: log, Crash: opts.Crash})
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	var srv *http.Server
	if ln != nil {
		srv = &http.Server{Handler: sinkHandler(nc, p, reg), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("sink HTTP server: %w", err)
			}
			return nil
		})
		log.Info("serving sink probes and metrics", "http", ln.Addr().String())
	}
	if opts.Started != nil {
		addr := ""
		if ln != nil {
			addr = ln.Addr().String()
		}
		opts.Started(addr)
	}
	g.Go(func() error { return watch.Run(gctx) })
	g.Go(func() error {
		err := p.Serve(gctx)
		// The sink is done (committed, or failed for good): the rest
		// stops with it.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = watch.Stop(sctx)
		if srv != nil {
			_ = srv.Shutdown(sctx)
		}
		return err
	})
	err = g.Wait()
	if derr := nc.Drain(); err == nil && derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
		err = fmt.Errorf("drain NATS connection: %w", derr)
	}
	return err
}

// sinkHandler serves the standalone sink's probes and metrics.
func sinkHandler(nc *nats.Conn, p *sink.Parquet, g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case !nc.IsConnected():
			http.Error(w, "not ready: NATS unreachable", http.StatusServiceUnavailable)
		case !p.Reading():
			http.Error(w, "not ready: the sink is not reading the results stream (starting, or waiting to start again)", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ready\n"))
		}
	})
	mux.Handle("GET /metrics", metrics.Handler(g))
	return mux
}
