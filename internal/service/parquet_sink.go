package service

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/sink"
)

// sinkRetry is the pause before the Parquet sink starts again after a
// failure (a full disk, JetStream away): it resumes from its files.
const sinkRetry = 5 * time.Second

// startSink runs the Parquet sink in the background when sink.parquet.dir
// is set, reading results.stream. A failure is logged and the sink starts
// again; scoring goes on meanwhile (results wait in the stream).
func (s *server) startSink(ctx context.Context, js jetstream.JetStream) error {
	pc := s.cfg.Sink.Parquet
	if pc.Dir == "" {
		return nil
	}
	pc.Stream = s.cfg.Results.Stream
	fp, err := sink.FailpointFromEnv()
	if err != nil {
		return err
	}
	p, err := sink.NewParquet(js, pc, sink.ParquetOptions{Log: s.log, Failpoint: fp})
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.sinkStop, s.sinkDone = cancel, make(chan struct{})
	go func() {
		defer close(s.sinkDone)
		for {
			err := p.Run(sctx)
			if sctx.Err() != nil {
				if err != nil {
					s.log.Error("parquet sink: closing", "dir", p.Dir(), "error", err)
				}
				return
			}
			s.log.Error("parquet sink failed, starting it again", "dir", p.Dir(), "in", sinkRetry, "error", err)
			select {
			case <-time.After(sinkRetry):
			case <-sctx.Done():
				return
			}
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
