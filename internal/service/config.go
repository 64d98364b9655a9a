package service

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/embedded"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
	"github.com/loan-scorer/loan-scorer/model/reason"
	"github.com/loan-scorer/loan-scorer/sink"
	"github.com/loan-scorer/loan-scorer/worker"
)

// Config is the scorer's whole configuration; the mapstructure tags are the
// configuration keys (configs/scorer.yaml).
type Config struct {
	Model ModelConfig `mapstructure:"model"`
	NATS  NATSConfig  `mapstructure:"nats"`
	// Topology holds the keys stream.*, subjects.*, results.*, dlq.* and
	// consumer.*.
	ingest.Topology `mapstructure:",squash"`
	Batch           worker.Config `mapstructure:"batch"`
	// Workers is the number of scoring goroutines (0: one per CPU).
	Workers  int                 `mapstructure:"workers"`
	Reply    ingest.ReplyConfig  `mapstructure:"reply"`
	Limits   ingest.Limits       `mapstructure:"limits"`
	HTTP     ingest.HTTPConfig   `mapstructure:"http"`
	Schema   ingest.SchemaConfig `mapstructure:"schema"`
	Shutdown ShutdownConfig      `mapstructure:"shutdown"`
	Log      LogConfig           `mapstructure:"log"`
	// Sink holds the keys sink.* (the Parquet results sink).
	Sink SinkConfig `mapstructure:"sink"`
	// Explain holds the keys explain.* (reasons in results).
	Explain reason.Config `mapstructure:"explain"`
}

// SinkConfig configures the sinks that run inside serve (keys sink.*).
type SinkConfig struct {
	// Parquet writes the results stream into files when its dir is set.
	Parquet ParquetSinkConfig `mapstructure:"parquet"`
}

// ParquetSinkConfig is the Parquet sink's configuration (keys
// sink.parquet.*): the sink's own, and the address `scorer sink parquet`
// serves its probes and metrics on.
type ParquetSinkConfig struct {
	sink.ParquetConfig `mapstructure:",squash"`
	// HTTPAddr is where `scorer sink parquet` serves /healthz, /readyz and
	// /metrics; empty serves nothing. Inside serve the sink reports through
	// serve's own HTTP server and this key is not used.
	HTTPAddr string `mapstructure:"http_addr"`
}

// ModelConfig says which model to serve (keys model.*).
type ModelConfig struct {
	// Path of a .cbm, CatBoost JSON, LightGBM text or XGBoost JSON model;
	// empty serves the demo model built into the binary.
	Path string `mapstructure:"path"`
	// Format forces the file format; empty detects it from the content.
	Format string `mapstructure:"format"`
	// Features renames the model's features in flat order (for a model
	// whose features carry no names); empty keeps the model's names.
	Features []string `mapstructure:"features"`
	// MaxBytes is the largest model file read; a larger one is refused
	// before reading (default 1 GiB).
	MaxBytes int64 `mapstructure:"max_bytes"`
	// LoadTimeout bounds one load of the model file, at start and on each
	// reload: a load still running then is abandoned (default 2m).
	LoadTimeout time.Duration `mapstructure:"load_timeout"`
	// ReloadIncompatible lets a reload swap in a model that changes the
	// answer's kind or the features clients must send (see incompatible);
	// by default such a reload is refused and the serving model stays.
	ReloadIncompatible bool `mapstructure:"reload_incompatible"`
	// Watch reloads the model when its file changes (polled every
	// WatchInterval, following symbolic links), besides SIGHUP.
	Watch bool `mapstructure:"watch"`
	// WatchInterval is how often Watch looks at the file; a change is
	// loaded once the file has kept it for one interval.
	WatchInterval time.Duration `mapstructure:"watch_interval"`
}

// ShutdownConfig bounds the graceful shutdown (keys shutdown.*).
type ShutdownConfig struct {
	// Timeout is the whole shutdown budget; past it the scorer naks what is
	// left, stops and exits non-zero.
	Timeout time.Duration `mapstructure:"timeout"`
}

// LogConfig configures the structured log (keys log.*).
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `mapstructure:"level"`
	// Format is text or json.
	Format string `mapstructure:"format"`
}

// DefaultConfig returns every default of configs/scorer.yaml.
func DefaultConfig() Config {
	return Config{
		Model:    ModelConfig{MaxBytes: 1 << 30, LoadTimeout: 2 * time.Minute, WatchInterval: 5 * time.Second},
		NATS:     DefaultNATSConfig(),
		Topology: ingest.DefaultTopology(),
		Batch:    worker.DefaultConfig(),
		Workers:  0,
		Reply:    ingest.DefaultReplyConfig(),
		Limits:   ingest.DefaultLimits(),
		HTTP:     ingest.DefaultHTTPConfig(),
		Schema:   ingest.DefaultSchemaConfig(),
		Shutdown: ShutdownConfig{Timeout: 30 * time.Second},
		Log:      LogConfig{Level: "info", Format: "text"},
		Sink:     SinkConfig{Parquet: ParquetSinkConfig{ParquetConfig: sink.DefaultParquetConfig(), HTTPAddr: "127.0.0.1:8988"}},
		Explain:  reason.Config{},
	}
}

// Validate checks every section and the cross-checks between them; errors
// name the configuration key.
func (c Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(c.NATS.Validate())
	add(c.Topology.Validate())
	add(c.Batch.Validate())
	add(c.Reply.ValidateFor(c.Subjects))
	add(c.Limits.Validate())
	add(c.HTTP.Validate())
	add(c.Schema.Validate())
	add(c.Explain.Validate())
	if c.Sink.Parquet.Dir != "" {
		add(c.Sink.Parquet.Validate())
	}
	if c.Workers < 0 || c.Workers > 1024 {
		errs = append(errs, fmt.Errorf("workers: %d is outside 0..1024 (0 means one per CPU)", c.Workers))
	}
	if c.Shutdown.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown.timeout: %v, want a positive duration", c.Shutdown.Timeout))
	}
	if c.NATS.URL == "" && c.Stream.Replicas > 1 {
		errs = append(errs, fmt.Errorf("stream.replicas: %d needs a cluster, but nats.url is empty (the embedded server is a single node)", c.Stream.Replicas))
	}
	if _, err := modelfile.ParseFormat(c.Model.Format); err != nil {
		errs = append(errs, fmt.Errorf("model.format: %w", err))
	}
	if c.Model.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("model.max_bytes: %d, want a positive size in bytes", c.Model.MaxBytes))
	}
	if c.Model.LoadTimeout <= 0 {
		errs = append(errs, fmt.Errorf("model.load_timeout: %v, want a positive duration", c.Model.LoadTimeout))
	}
	if c.Model.WatchInterval <= 0 {
		errs = append(errs, fmt.Errorf("model.watch_interval: %v, want a positive duration", c.Model.WatchInterval))
	}
	for i, f := range c.Model.Features {
		if strings.TrimSpace(f) == "" {
			errs = append(errs, fmt.Errorf("model.features: name %d is empty", i))
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q: want debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q: want text or json", c.Log.Format))
	}
	return errors.Join(errs...)
}

// workers returns the number of scoring goroutines.
func (c Config) workers() int {
	if c.Workers > 0 {
		return c.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// embeddedDefault reexports the embedded server's defaults for NATSConfig.
func embeddedDefault() embedded.Config { return embedded.DefaultConfig() }
