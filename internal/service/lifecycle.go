package service

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// component is the stop shape every long-running part of the service
// shares, like http.Server's Serve and Shutdown or nats.go's
// ConsumeContext: Run serves until Stop has ended it and then returns nil,
// or returns the error that ended it for good; Stop ends it gracefully,
// gives up on what is left when its ctx ends, and says so in its error.
// When Run's ctx ends, the component drops what it was doing (hard stop).
type component interface {
	Run(ctx context.Context) error
	Stop(ctx context.Context) error
}

// part is a component with the name logs and errors give it.
type part struct {
	name string
	c    component
}

// stopStep is one step of the shutdown.
type stopStep struct {
	name string
	stop func(context.Context) error
	// consumer marks the step that gets the consumer's share of the
	// budget (see shutdown).
	consumer bool
}

// stopOrder is DESIGN.md's shutdown order, the one place it is written:
// /readyz turns false; reloads stop; the consumer is drained (buffered
// messages are scored and acked, or nak'ed when shutdown.timeout would
// pass) and every message settled; pending publishes complete; the
// Parquet sink commits its file; the max-deliveries reaper, the sync
// micro service and the HTTP server stop; the batcher finishes; the NATS
// connection drains; the embedded server stops last.
func (s *server) stopOrder() []stopStep {
	steps := []stopStep{
		{name: "readiness", stop: func(context.Context) error { s.ready.Store(false); return nil }},
		{name: "model reloads", stop: s.reloads.Stop},
		{name: "consumer figures", stop: s.consWatch.Stop},
		{name: "async consumer", stop: s.async.Stop, consumer: true},
		{name: "pending publishes", stop: s.pub.Wait},
	}
	if s.sink != nil {
		steps = append(steps, stopStep{name: "parquet sink", stop: s.sink.Stop},
			stopStep{name: "parquet sink consumer figures", stop: s.sinkWatch.Stop})
	}
	steps = append(steps,
		stopStep{name: "max-deliveries reaper", stop: s.reaper.Stop},
		stopStep{name: "sync service", stop: s.sync.Stop},
		stopStep{name: "HTTP server", stop: s.http.Stop},
		stopStep{name: "batcher", stop: s.batcher.Stop},
		stopStep{name: "NATS connection", stop: s.conn.Stop},
	)
	if s.emb != nil {
		steps = append(steps, stopStep{name: "embedded NATS server", stop: s.emb.Stop})
	}
	return steps
}

// parts are the running components, each started by serve.
func (s *server) parts() []part {
	ps := []part{
		{"NATS connection", s.conn},
		{"batcher", s.batcher},
		{"async consumer", s.async},
		{"max-deliveries reaper", s.reaper},
		{"sync service", s.sync},
		{"HTTP server", s.http},
		{"model reloads", s.reloads},
		{"consumer figures", s.consWatch},
	}
	if s.emb != nil {
		ps = append(ps, part{"embedded NATS server", s.emb})
	}
	if s.sink != nil {
		ps = append(ps, part{"parquet sink", s.sink}, part{"parquet sink consumer figures", s.sinkWatch})
	}
	return ps
}

// serve runs every component under one errgroup until ctx ends (a
// signal) or a component fails for good: its Run returns an error, or
// returns before the shutdown began (a batcher, a consumer, a connection
// that ended on its own). Either way it then stops them all in stopOrder
// and returns: nil after a clean shutdown within shutdown.timeout, an error
// wrapping ErrLate after a late one, or the failure (logged), so that the
// process ends non-zero.
func (s *server) serve(ctx context.Context) error {
	hard, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()
	g, failed := errgroup.WithContext(hard)
	var stopping atomic.Bool
	for _, p := range s.parts() {
		g.Go(func() error {
			err := p.c.Run(hard)
			switch {
			case stopping.Load():
				if err != nil {
					s.log.Error("stopped with an error", "component", p.name, "error", err)
				}
				return nil
			case err == nil:
				err = errors.New("stopped on its own")
			}
			s.log.Error("failed: stopping the service", "component", p.name, "error", err)
			return fmt.Errorf("%s: %w", p.name, err)
		})
	}
	g.Go(func() error {
		select {
		case <-ctx.Done():
		case <-failed.Done():
		}
		stopping.Store(true)
		s.log.Info("shutting down", "timeout", s.cfg.Shutdown.Timeout)
		err := s.shutdown(ctx)
		hardStop()
		return err
	})
	return g.Wait()
}

// shutdown takes every step of stopOrder within shutdown.timeout. The
// consumer's step must end a share of the budget early (at most 2 s, a
// fifth of it), kept for what follows it: nak the leftovers, stop the
// doors, drain the connection, stop the server.
func (s *server) shutdown(ctx context.Context) error {
	timeout := s.cfg.Shutdown.Timeout
	deadline := time.Now().Add(timeout)
	sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	reserve := min(timeout/5, 2*time.Second)
	actx, acancel := context.WithDeadline(sctx, deadline.Add(-reserve))
	defer acancel()
	var errs []error
	for _, step := range s.stopOrder() {
		stepCtx := sctx
		if step.consumer {
			stepCtx = actx
		}
		if err := step.stop(stepCtx); err != nil {
			errs = append(errs, err)
		}
	}
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
