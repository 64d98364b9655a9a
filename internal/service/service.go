package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/embedded"
	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/sink"
	"github.com/loan-scorer/loan-scorer/worker"
)

// Loader loads the configured model; Run calls it at start and on every
// reload.
type Loader func() (*model.Loaded, error)

// Options are what Run needs beyond the configuration.
type Options struct {
	// Load loads the model (model.path, or the demo model).
	Load Loader
	// Reload receives a value for every reload request (SIGHUP). Loads
	// run one at a time in goroutines of their own, never in the loop that
	// waits for ctx; one past model.load_timeout is abandoned (reload.go).
	Reload <-chan struct{}
	// Log receives the structured log; nil uses slog.Default().
	Log *slog.Logger
	// Started, when set, is called once the service is ready, with the
	// NATS URL and the HTTP address it listens on (tests, tools).
	Started func(natsURL, httpAddr string)
	// SinkCrash, when set, is handed to the Parquet sink as its crash hook
	// (sink.ParquetOptions.Crash): test-only, cmd/scorer sets it from
	// SCORER_FAILPOINT.
	SinkCrash func(point string)
}

// Run serves until ctx ends, then shuts down in DESIGN.md's order:
// /readyz false; the consumer drains (buffered messages are scored and
// acked, or nak'ed when shutdown.timeout would pass); pending publishes
// complete; the max-deliveries listener and the micro service stop; the
// HTTP server shuts down; the batcher finishes; nc.Drain(); the embedded
// server stops last. It returns nil after a clean shutdown within
// shutdown.timeout, an error wrapping ErrLate after a late one, or the
// error that stopped it (the HTTP listener failing, or the Parquet sink
// failing in a way no restart can mend: see sink.Parquet.Serve).
func Run(ctx context.Context, cfg Config, opts Options) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if err := checkFileLimit(cfg.HTTP.MaxConns, openFileLimit()); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	mdl, err := loadFirst(ctx, opts.Load, cfg.Model.LoadTimeout)
	if err != nil {
		return err
	}
	log.Info("model loaded", "version", mdl.Version, "task", mdl.Output().Task.String(), "prediction", mdl.Prediction.String(),
		"features", len(mdl.Schema().Features), "demo", mdl.Demo)

	s := &server{cfg: cfg, log: log, sinkCrash: opts.SinkCrash}
	defer s.cleanup()
	if err := s.connect(ctx); err != nil {
		return err
	}
	if err := s.build(ctx, mdl); err != nil {
		return err
	}
	if opts.Started != nil {
		opts.Started(s.natsURL, s.ln.Addr().String())
	}
	// Reloads read the file in goroutines of their own: this loop must see
	// ctx end (SIGTERM) however long a read blocks.
	reloads := &reloader{load: opts.Load, timeout: cfg.Model.LoadTimeout, path: cfg.Model.Path, log: log,
		swap: s.swapModel, current: func() string { return s.models.Load().Version }}
	defer reloads.stop()
	for {
		select {
		case <-ctx.Done():
			reloads.stop()
			log.Info("shutting down", "timeout", cfg.Shutdown.Timeout)
			return s.shutdown(ctx)
		case err := <-s.httpErr:
			log.Error("HTTP server stopped", "error", err)
			reloads.stop()
			if serr := s.shutdown(ctx); serr != nil {
				log.Error("shutdown", "error", serr)
			}
			return fmt.Errorf("http server on %s: %w", cfg.HTTP.Addr, err)
		case err := <-s.sinkErr:
			if serr := s.shutdown(ctx); serr != nil {
				log.Error("shutdown", "error", serr)
			}
			return err
		case <-opts.Reload:
			reloads.request()
		case res := <-reloads.done():
			reloads.finish(res)
		case <-reloads.expired():
			reloads.timedOut()
		}
	}
}

// server is one running service.
type server struct {
	cfg Config
	log *slog.Logger

	emb     *embedded.Server
	nc      *nats.Conn
	closed  chan struct{} // closed when nc is closed
	natsURL string

	reg      *prometheus.Registry
	m        *metrics.Metrics
	models   *model.Holder
	batcher  *worker.Batcher
	batchErr chan error
	hardStop context.CancelFunc
	pub      *sink.Publisher
	async    *ingest.Async
	reaper   *ingest.Reaper
	svc      micro.Service
	http     *http.Server
	ln       net.Listener
	httpErr  chan error
	ready    atomic.Bool
	// sinkStop, sinkDone and sinkErr run the Parquet sink (parquet_sink.go).
	sinkStop context.CancelFunc
	sinkDone chan struct{}
	sinkErr  chan error
	// sinkCrash is the sink's test-only crash hook (Options.SinkCrash).
	sinkCrash func(point string)
}

// connect starts or joins the embedded server, or dials nats.url.
func (s *server) connect(ctx context.Context) error {
	url := s.cfg.NATS.URL
	if url == "" {
		emb, err := embedded.Start(ctx, s.cfg.NATS.Embedded, s.log)
		if err != nil {
			return err
		}
		s.emb = emb
		url = emb.URL()
	}
	nopts, err := s.cfg.NATS.options(s.log)
	if err != nil {
		return err
	}
	s.closed = make(chan struct{})
	nopts = append(nopts, nats.ClosedHandler(func(*nats.Conn) { close(s.closed) }))
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", RedactURL(url), err)
	}
	s.nc = nc
	s.natsURL = nc.ConnectedUrlRedacted()
	s.log.Info("connected to NATS", "url", s.natsURL, "auth", s.cfg.NATS.AuthMethod(), "embedded", s.emb != nil && !s.emb.Joined())
	return nil
}

// build sets up streams, metrics, the batcher and the three front doors.
func (s *server) build(ctx context.Context, mdl *model.Loaded) error {
	cfg := s.cfg
	js, err := jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cons, err := ingest.Setup(setupCtx, js, cfg.Topology, s.log)
	if err != nil {
		return err
	}

	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.m = metrics.New(s.reg)
	s.m.SetModel(mdl.Version)
	s.models = model.NewHolder(mdl)
	dec := ingest.NewDecoderCache(cfg.Schema, cfg.Limits)

	s.batcher = worker.NewBatcher(cfg.Batch, cfg.workers(), s.m)
	var hard context.Context
	hard, s.hardStop = context.WithCancel(context.WithoutCancel(ctx))
	s.batchErr = make(chan error, 1)
	go func() { s.batchErr <- s.batcher.Run(hard) }()

	pcfg := sink.DefaultPublisherConfig()
	pcfg.Results, pcfg.DLQ = cfg.Subjects.Results, cfg.Subjects.DLQ
	pcfg.ResultsStream, pcfg.DLQStream = cfg.Results.Stream, cfg.DLQ.Stream
	// Each unacked input has at most two publishes in flight (a result, and
	// a dead letter for bad input): this bound never stalls the pipeline,
	// max_ack_pending is the backpressure.
	pcfg.MaxPending = 2 * cfg.Consumer.MaxAckPending
	if s.pub, err = sink.NewPublisher(s.nc, pcfg, s.log); err != nil {
		return err
	}
	s.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "scorer_results_already_stored_total",
		Help: "Result and dead-letter publishes that found their id's message stored already (redeliveries after a lost ack); not stored again.",
	}, func() float64 { return float64(s.pub.AlreadyStored()) }))
	s.async, err = ingest.NewAsync(ingest.AsyncParams{
		Consumer: cons, Config: cfg.Consumer, Reply: cfg.Reply, Models: s.models, Decoders: dec.Get,
		Batcher: s.batcher, Publisher: s.pub, MaxPayload: s.nc.MaxPayload(), MaxID: cfg.Limits.MaxID, Metrics: s.m, Log: s.log,
	})
	if err != nil {
		return err
	}
	if s.reaper, err = ingest.ListenMaxDeliveries(setupCtx, s.nc, js, cfg.Topology, s.pub, cfg.Limits.MaxID, s.m, s.log); err != nil {
		return err
	}

	scfg := ingest.DefaultSyncConfig()
	scfg.Subject = cfg.Subjects.Sync
	if s.svc, err = ingest.NewSyncService(s.nc, scfg, s.models, dec.Get, s.batcher, s.m, s.log); err != nil {
		return fmt.Errorf("sync service on %s: %w", cfg.Subjects.Sync, err)
	}

	s.http = ingest.NewHTTPServer(cfg.HTTP, s.models, dec.Get, s.batcher, s.ready.Load, s.info, s.reg, s.m)
	if s.ln, err = ingest.ListenHTTP(s.http, cfg.HTTP); err != nil {
		return err
	}
	s.httpErr = make(chan error, 1)
	go func() {
		if err := s.http.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			s.httpErr <- err
		}
	}()

	if err := s.async.Start(hard); err != nil {
		return err
	}
	if err := s.startSink(ctx, js); err != nil {
		return err
	}
	s.ready.Store(true)
	s.log.Info("serving", "async", cfg.Subjects.Score, "sync", cfg.Subjects.Sync, "results", cfg.Subjects.Results,
		"http", s.ln.Addr().String(), "consumer", cfg.Consumer.Name, "workers", cfg.workers())
	return nil
}

// info is GET /'s "service" section.
func (s *server) info() any {
	return map[string]any{
		"name":     "loan-scorer",
		"nats":     s.natsURL,
		"embedded": s.emb != nil && !s.emb.Joined(),
		"subjects": map[string]string{"async": s.cfg.Subjects.Score, "sync": s.cfg.Subjects.Sync, "results": s.cfg.Subjects.Results, "dlq": s.cfg.Subjects.DLQ},
		"streams":  map[string]string{"input": s.cfg.Stream.Name, "results": s.cfg.Results.Stream, "dlq": s.cfg.DLQ.Stream},
		"consumer": s.cfg.Consumer.Name,
	}
}

// swapModel serves mdl from now on and returns the model it replaces.
func (s *server) swapModel(mdl *model.Loaded) *model.Loaded {
	old := s.models.Swap(mdl)
	s.m.SetModel(mdl.Version)
	return old
}

// shutdown stops everything in order within shutdown.timeout.
func (s *server) shutdown(ctx context.Context) error {
	timeout := s.cfg.Shutdown.Timeout
	deadline := time.Now().Add(timeout)
	sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	// Keep a share of the budget for what follows the consumer (nak the
	// leftovers, stop the doors, drain the connection, stop the server).
	reserve := min(timeout/5, 2*time.Second)
	actx, acancel := context.WithDeadline(sctx, deadline.Add(-reserve))
	defer acancel()
	var errs []error

	s.ready.Store(false)
	if err := s.async.Drain(actx); err != nil {
		errs = append(errs, err)
	}
	if err := s.async.Settle(actx); err != nil {
		errs = append(errs, err)
	}
	if err := s.pub.Wait(sctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.stopSink(sctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.reaper.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := s.svc.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("stop sync service: %w", err))
	}
	if err := s.http.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("stop HTTP server: %w", err))
	}
	s.batcher.Close()
	select {
	case <-s.batchErr:
	case <-sctx.Done():
		s.hardStop()
		<-s.batchErr
	}
	s.hardStop()
	if err := s.drainConn(sctx); err != nil {
		errs = append(errs, err)
	}
	s.stopEmbedded()
	late := time.Now().After(deadline)
	if late {
		errs = append(errs, fmt.Errorf("%w (%v)", ErrLate, timeout))
	}
	for _, err := range errs {
		s.log.Warn("shutdown", "error", err)
	}
	if late {
		return errors.Join(errs...)
	}
	s.log.Info("stopped")
	return nil
}

func (s *server) drainConn(ctx context.Context) error {
	if s.nc == nil {
		return nil
	}
	nc := s.nc
	s.nc = nil
	if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		nc.Close()
		return fmt.Errorf("drain NATS connection: %w", err)
	}
	select {
	case <-s.closed:
		return nil
	case <-ctx.Done():
		nc.Close()
		return fmt.Errorf("drain NATS connection: %w", ctx.Err())
	}
}

func (s *server) stopEmbedded() {
	if s.emb != nil {
		s.emb.Shutdown()
		s.emb = nil
	}
}

// cleanup releases what a failed start left behind.
func (s *server) cleanup() {
	if s.hardStop != nil {
		s.hardStop()
	}
	if s.ln != nil && !s.ready.Load() {
		_ = s.ln.Close()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	s.stopEmbedded()
}

// loadChecked loads a model and scores one row of missing values with it,
// so a file that loads but cannot score is refused before it serves.
func loadChecked(load Loader) (*model.Loaded, error) {
	mdl, err := load()
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	if err := SelfCheck(mdl); err != nil {
		return nil, fmt.Errorf("%s: %w", mdl.Version, err)
	}
	return mdl, nil
}

// SelfCheck predicts one row whose floats are missing and whose categories
// are empty, and checks the output is there and finite.
func SelfCheck(m *model.Loaded) error {
	b := model.NewBatch(m.Schema(), 1)
	b.AppendRow()
	out := make([]float64, m.Width())
	if err := m.Predict(b, m.Prediction, out); err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	for i, v := range out {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: output %d is %v", ErrSelfCheck, i, v)
		}
	}
	return nil
}
