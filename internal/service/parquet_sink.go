package service

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/sink"
)

// buildSink builds the Parquet sink when sink.parquet.dir is set, reading
// results.stream. It runs under serve like every component: after a
// transient failure it starts again from its files while scoring goes on
// (results wait in the stream, see sink.Parquet.Serve); a failure it does
// not retry (the directory locked by another sink, the stream behind the
// files, the consumer name taken) stops the service with that error.
func (s *server) buildSink(js jetstream.JetStream) error {
	pc := s.cfg.Sink.Parquet.ParquetConfig
	if pc.Dir == "" {
		return nil
	}
	pc.Stream = s.cfg.Results.Stream
	p, watch, err := newSink(js, pc, s.reg, sink.ParquetOptions{Log: s.log, Crash: s.sinkCrash})
	if err != nil {
		return err
	}
	s.sink, s.sinkWatch = p, watch
	return nil
}

// newSink builds a Parquet sink whose metrics (rows, files, last commit,
// restarts, gap recoveries, and its consumer's figures with
// scorer_sink_lag_messages) are registered with reg, for `scorer serve`
// and `scorer sink parquet` alike. opts' metric hooks are set here.
func newSink(js jetstream.JetStream, pc sink.ParquetConfig, reg prometheus.Registerer, opts sink.ParquetOptions) (*sink.Parquet, *consumerWatch, error) {
	sm := metrics.NewSink(reg)
	opts.Recovered = sm.GapRecoveries.Inc
	opts.Restarted = sm.Restarts.Inc
	opts.Committed = func(_ string, rows int) {
		sm.RowsTotal.Add(float64(rows))
		sm.FilesTotal.Inc()
		sm.LastCommitTime.Set(float64(time.Now().UnixMilli()) / 1e3)
	}
	opts.ReadingChanged = func(on bool) {
		if on {
			sm.Reading.Set(1)
		} else {
			sm.Reading.Set(0)
		}
	}
	p, err := sink.NewParquet(js, pc, opts)
	if err != nil {
		return nil, nil, err
	}
	c := metrics.NewConsumer(pc.Stream, p.Consumer(), consumerSource(js, pc.Stream, p.Consumer()), "scorer_sink_lag_messages")
	reg.MustRegister(c)
	return p, newConsumerWatch(c), nil
}

// consumerSource reads a consumer's state: its info, and when messages
// wait for their ack, the time of the first one after the ack floor.
func consumerSource(js jetstream.JetStream, stream, name string) metrics.ConsumerSource {
	return func(ctx context.Context) (metrics.ConsumerState, error) {
		cons, err := js.Consumer(ctx, stream, name)
		if err != nil {
			return metrics.ConsumerState{}, err
		}
		info := cons.CachedInfo()
		st := metrics.ConsumerState{Pending: info.NumPending, AckPending: info.NumAckPending, Redelivered: info.NumRedelivered}
		if st.Pending == 0 && st.AckPending == 0 {
			return st, nil
		}
		str, err := js.Stream(ctx, stream)
		if err != nil {
			return st, nil // the figures stand without the age
		}
		filter := info.Config.FilterSubject
		if filter == "" {
			filter = ">"
		}
		if msg, err := str.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(filter)); err == nil {
			st.Oldest = msg.Time
		}
		return st, nil
	}
}

// streamsSource reads the named streams' sizes and limits.
func streamsSource(js jetstream.JetStream, names ...string) metrics.StreamsSource {
	return func(ctx context.Context) ([]metrics.StreamState, error) {
		out := make([]metrics.StreamState, 0, len(names))
		for _, name := range names {
			s, err := js.Stream(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("stream %s: %w", name, err)
			}
			info := s.CachedInfo()
			out = append(out, metrics.StreamState{Name: name, Bytes: info.State.Bytes, Messages: info.State.Msgs, MaxBytes: info.Config.MaxBytes})
		}
		return out, nil
	}
}

// consumerWatch runs a consumer collector's background refresh as a
// component.
type consumerWatch struct {
	c    *metrics.Consumer
	quit chan struct{}
	once sync.Once
	done chan struct{}
}

func newConsumerWatch(c *metrics.Consumer) *consumerWatch {
	return &consumerWatch{c: c, quit: make(chan struct{}), done: make(chan struct{})}
}

// Run refreshes until Stop or ctx ends, then returns nil.
func (w *consumerWatch) Run(ctx context.Context) error {
	defer close(w.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-w.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	return w.c.Run(ctx)
}

// Stop ends Run and waits for it until ctx ends.
func (w *consumerWatch) Stop(ctx context.Context) error {
	w.once.Do(func() { close(w.quit) })
	select {
	case <-w.done:
	case <-ctx.Done():
	}
	return nil
}
