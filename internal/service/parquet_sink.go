package service

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/sink"
)

// startSink runs the Parquet sink in the background when sink.parquet.dir
// is set, reading results.stream, through sink.Parquet.Serve: after a
// transient failure it starts again from its files while scoring goes on
// (results wait in the stream). A failure Serve does not retry (the
// directory locked by another sink, the stream behind the files, the
// consumer name taken) is sent on s.sinkErr, which stops the service with
// that error.
func (s *server) startSink(ctx context.Context, js jetstream.JetStream) error {
	pc := s.cfg.Sink.Parquet
	if pc.Dir == "" {
		return nil
	}
	pc.Stream = s.cfg.Results.Stream
	p, err := sink.NewParquet(js, pc, sink.ParquetOptions{Log: s.log, Crash: s.sinkCrash,
		Recovered: s.m.SinkGapRecoveries.Inc, Restarted: s.m.SinkRestarts.Inc})
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.sinkStop, s.sinkDone, s.sinkErr = cancel, make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(s.sinkDone)
		err := p.Serve(sctx)
		switch {
		case err == nil:
		case sctx.Err() != nil:
			s.log.Error("parquet sink: closing", "dir", p.Dir(), "error", err)
		default:
			s.sinkErr <- err
		}
	}()
	return nil
}

// stopSink makes the sink commit its open file and waits for it within ctx.
func (s *server) stopSink(ctx context.Context) error {
	if s.sinkStop == nil {
		return nil
	}
	s.sinkStop()
	select {
	case <-s.sinkDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("parquet sink: close the open file: %w", ctx.Err())
	}
}
