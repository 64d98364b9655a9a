package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/loan-scorer/loan-scorer/internal/service"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
)

// Exit codes of `scorer serve` besides 0 (clean shutdown) and 1 (could not
// start or failed).
const (
	// exitLate: the graceful shutdown took longer than shutdown.timeout.
	exitLate = 2
	// exitSecondSignal: a second SIGINT/SIGTERM cut the shutdown short.
	exitSecondSignal = 130
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Score loan applications from JetStream, NATS request-reply and HTTP",
		Long: `serve scores loan applications published to loans.score (JetStream, results to
LOANS_SCORED), requested on loans.score.sync (NATS micro service loan-scorer) and
posted to HTTP /predict, all through one micro-batcher.

With no configuration it starts an embedded NATS server with JetStream (store under
data/, 127.0.0.1:4222; it joins a JetStream server already answering there) and
serves the demo model built into the binary. SIGINT/SIGTERM shut down gracefully
within shutdown.timeout (a second signal exits at once), even while a model reload
is stuck reading its file; SIGHUP reloads the model (one reload at a time, abandoned
after model.load_timeout), and so does a change of the model file with model.watch; a
model incompatible with the serving one is refused unless model.reload_incompatible.
Every configuration key is in configs/scorer.yaml.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	addConfigFlags(cmd.Flags())
	return cmd
}

// serve runs the service with the process's signals: the first SIGINT or
// SIGTERM starts the graceful shutdown, a second one exits at once, SIGHUP
// reloads the model.
func serve(ctx context.Context, cfg service.Config, stderr io.Writer) error {
	log := newLogger(cfg.Log, stderr)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reload := make(chan struct{}, 1)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	finished := make(chan struct{})
	defer close(finished)
	// Every SIGINT/SIGTERM reaches sigs, whatever else listens for it (main's
	// signal context sees the first one too), so only sigs counts signals:
	// treating that context's cancellation as a first signal would make the
	// first signal itself look like a second one and skip the graceful
	// shutdown whenever the cancellation is seen first.
	go func() {
		stopping := false
		for {
			select {
			case sig := <-sigs:
				switch {
				case sig == syscall.SIGHUP:
					select {
					case reload <- struct{}{}:
					default: // a reload is already pending
					}
				case !stopping:
					stopping = true
					log.Info("signal received, shutting down (send it again to exit at once)", "signal", sig.String())
					cancel()
				default:
					log.Warn("second signal, exiting at once", "signal", sig.String())
					os.Exit(exitSecondSignal)
				}
			case <-finished:
				return
			}
		}
	}()
	if cfg.Model.Path == "" {
		log.Warn("no model.path: serving the demo model built into the binary", "model", demo.Name, "notice", demo.Notice)
	}
	var crash func(point string)
	if cfg.Sink.Parquet.Dir != "" { // the failpoints are the Parquet sink's
		var failpoint string
		var err error
		if crash, failpoint, err = failpointFromEnv(); err != nil {
			return err
		}
		if crash != nil {
			log.Warn("test-only failpoint armed: the process will exit there", "failpoint", failpoint)
		}
	}
	err := service.Run(ctx, cfg, service.Options{Load: modelLoader(cfg.Model), Reload: reload, Log: log, SinkCrash: crash})
	if errors.Is(err, service.ErrLate) {
		return exitError{code: exitLate, err: err}
	}
	return err
}

// modelLoader loads model.path through package modelfile, or the demo
// model when no path is configured.
func modelLoader(mc service.ModelConfig) service.Loader {
	return func() (*model.Loaded, error) {
		format, err := modelfile.ParseFormat(mc.Format)
		if err != nil {
			return nil, fmt.Errorf("model.format: %w", err)
		}
		opts := modelfile.Options{Format: format, FeatureNames: mc.Features, MaxSize: mc.MaxBytes}
		var f *modelfile.File
		if mc.Path == "" {
			f, err = modelfile.Parse(demo.Name, demo.Bytes(), opts)
		} else {
			f, err = modelfile.Open(mc.Path, opts)
		}
		if err != nil {
			return nil, err
		}
		return model.NewLoaded(f.Model, f.Version(), mc.Path == ""), nil
	}
}

// newLogger returns the structured logger log.* asks for.
func newLogger(c service.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	switch c.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
