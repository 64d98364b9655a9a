package service

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/buildinfo"
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

// Run serves until ctx ends, then shuts down in DESIGN.md's order
// (stopOrder). Every component runs under one errgroup (serve): when one
// fails for good (the batcher, the consumer, the NATS connection closing,
// the HTTP listener, the Parquet sink with a failure no restart can mend),
// the others are stopped in the same order and Run returns its error. It
// returns nil after a clean shutdown within shutdown.timeout, or an error
// wrapping ErrLate after a late one.
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
	if err := s.build(ctx, mdl, opts); err != nil {
		s.abandon()
		return err
	}
	if opts.Started != nil {
		opts.Started(s.natsURL, s.http.Listener.Addr().String())
	}
	return s.serve(ctx)
}

// server is one running service: its components, built by build and run
// by serve.
type server struct {
	cfg Config
	log *slog.Logger

	emb     *embedded.Server // nil with nats.url
	conn    *conn
	natsURL string

	reg     *prometheus.Registry
	m       *metrics.Metrics
	models  *model.Holder
	batcher *worker.Batcher
	pub     *sink.Publisher
	async   *worker.Async
	reaper  *worker.Reaper
	sync    *ingest.SyncService
	http    ingest.HTTPDoor
	sink    *sink.Parquet // nil without sink.parquet.dir
	// consWatch and sinkWatch refresh the consumer figures (the input
	// consumer's; the sink's, nil without the sink).
	consWatch *consumerWatch
	sinkWatch *consumerWatch
	reloads   *reloader
	ready     atomic.Bool
	// sinkCrash is the sink's test-only crash hook (Options.SinkCrash).
	sinkCrash func(point string)
}

// build starts or joins NATS, sets up the streams and builds every
// component (the one place they are wired), none of them running yet.
func (s *server) build(ctx context.Context, mdl *model.Loaded, opts Options) error {
	cfg := s.cfg
	url := cfg.NATS.URL
	if url == "" {
		emb, err := embedded.Start(ctx, cfg.NATS.Embedded, s.log)
		if err != nil {
			return err
		}
		s.emb = emb
		url = emb.URL()
	}
	nopts, err := cfg.NATS.options(s.log)
	if err != nil {
		return err
	}
	if s.conn, err = dial(url, nopts); err != nil {
		return err
	}
	nc := s.conn.nc
	s.natsURL = nc.ConnectedUrlRedacted()
	s.log.Info("connected to NATS", "url", s.natsURL, "auth", cfg.NATS.AuthMethod(), "embedded", s.emb != nil && !s.emb.Joined())

	js, err := jetstream.New(nc)
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
	s.m.LastReloadSuccessTime.SetToCurrentTime()
	cc := metrics.NewConsumer(cfg.Stream.Name, cfg.Consumer.Name, consumerSource(js, cfg.Stream.Name, cfg.Consumer.Name), "")
	s.reg.MustRegister(cc)
	s.consWatch = newConsumerWatch(cc)
	s.reg.MustRegister(metrics.NewStreams(streamsSource(js, cfg.Stream.Name, cfg.Results.Stream, cfg.DLQ.Stream)))
	s.models = model.NewHolder(mdl)
	dec := ingest.NewDecoderCache(cfg.Schema, cfg.Limits)
	codes, err := cfg.explainCodes(mdl)
	if err != nil {
		return err
	}
	s.batcher = worker.NewBatcher(cfg.Batch, cfg.workers(), s.m, worker.WithCodes(codes))

	pcfg := sink.DefaultPublisherConfig()
	pcfg.Results, pcfg.DLQ = cfg.Subjects.Results, cfg.Subjects.DLQ
	pcfg.ResultsStream, pcfg.DLQStream = cfg.Results.Stream, cfg.DLQ.Stream
	// Each unacked input has at most two publishes in flight (a result, and
	// a dead letter for bad input): this bound never stalls the pipeline,
	// max_ack_pending is the backpressure.
	pcfg.MaxPending = 2 * cfg.Consumer.MaxAckPending
	if s.pub, err = sink.NewPublisher(nc, pcfg, s.log); err != nil {
		return err
	}
	s.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "scorer_results_already_stored_total",
		Help: "Result and dead-letter publishes that found their id's message stored already (redeliveries after a lost ack); not stored again.",
	}, func() float64 { return float64(s.pub.AlreadyStored()) }))
	fetcher := ingest.NewFetcher(cons, cfg.Consumer, nc.MaxPayload(), s.m, s.log)
	s.async, err = worker.NewAsync(worker.AsyncParams{
		Fetcher: fetcher, Config: cfg.Consumer, Reply: cfg.Reply, Models: s.models, Decoders: dec.Get,
		Batcher: s.batcher, Publisher: s.pub, MaxPayload: nc.MaxPayload(), MaxID: cfg.Limits.MaxID, Explain: cfg.Explain.TopK, Metrics: s.m, Log: s.log,
	})
	if err != nil {
		return err
	}
	if s.reaper, err = worker.ListenMaxDeliveries(setupCtx, nc, js, cfg.Topology, s.pub, cfg.Limits.MaxID, s.m, s.log); err != nil {
		return err
	}

	door := ingest.FrontDoor{Models: s.models, Decoders: dec.Get, Scorer: s.batcher, Bodies: sink.Bodies{}, Metrics: s.m, Log: s.log}
	scfg := ingest.DefaultSyncConfig()
	scfg.Subject = cfg.Subjects.Sync
	// Metadata is fixed when the service starts: a reload changes the
	// model (each answer names its own), not this.
	scfg.Metadata = map[string]string{"scorer": buildinfo.Read().String(), "model_at_start": mdl.Version}
	if s.sync, err = ingest.NewSyncService(nc, scfg, door); err != nil {
		return fmt.Errorf("sync service on %s: %w", cfg.Subjects.Sync, err)
	}
	srv := ingest.NewHTTPServer(cfg.HTTP, door, s.readyNow, s.info, s.reg)
	ln, err := ingest.ListenHTTP(srv, cfg.HTTP)
	if err != nil {
		return err
	}
	s.http = ingest.HTTPDoor{Server: srv, Listener: ln}

	if err := s.buildSink(js); err != nil {
		return err
	}
	s.reloads = &reloader{load: opts.Load, timeout: cfg.Model.LoadTimeout, path: cfg.Model.Path, log: s.log,
		swap: s.swapModel, serving: s.models.Load, allowIncompatible: cfg.Model.ReloadIncompatible, m: s.m,
		fits:     func(m *model.Loaded) error { return cfg.explainFits(m, codes) },
		requests: opts.Reload, quit: make(chan struct{}), exited: make(chan struct{})}
	if cfg.Model.Watch && cfg.Model.Path != "" {
		s.reloads.watch = newFileWatch(cfg.Model.Path, cfg.Model.WatchInterval, s.log)
	}
	s.ready.Store(true)
	s.log.Info("serving", "async", cfg.Subjects.Score, "sync", cfg.Subjects.Sync, "results", cfg.Subjects.Results,
		"http", ln.Addr().String(), "consumer", cfg.Consumer.Name, "workers", cfg.workers())
	return nil
}

// readyNow is /readyz: serving (not starting, not shutting down) and
// connected to NATS. While the connection is lost (it reconnects on its
// own) nothing async is consumed or stored and sync requests cannot
// arrive, so a load balancer should send HTTP requests elsewhere too.
func (s *server) readyNow() bool {
	return s.ready.Load() && s.conn.nc.IsConnected()
}

// abandon releases what a failed build left behind; nothing runs yet.
func (s *server) abandon() {
	if s.http.Listener != nil {
		_ = s.http.Listener.Close()
	}
	if s.conn != nil {
		s.conn.nc.Close()
	}
	if s.emb != nil {
		s.emb.Shutdown()
	}
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
