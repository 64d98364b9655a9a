package service

import (
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/sink"
)

// buildSink builds the Parquet sink when sink.parquet.dir is set, reading
// results.stream. It runs under serve like every component: after a
// transient failure it starts again from its files while scoring goes on
// (results wait in the stream, see sink.Parquet.Serve); a failure it does
// not retry (the directory locked by another sink, the stream behind the
// files, the consumer name taken) stops the service with that error.
func (s *server) buildSink(js jetstream.JetStream) error {
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
	s.sink = p
	return nil
}
