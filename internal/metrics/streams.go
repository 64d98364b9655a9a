package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StreamState is what JetStream says about one stream's size.
type StreamState struct {
	Name     string
	Bytes    uint64
	Messages uint64
	// MaxBytes is the stream's limit, -1 for none.
	MaxBytes int64
}

// StreamsSource asks JetStream for the states of the streams reported
// (the wiring's jetstream.Stream.Info of each).
type StreamsSource func(ctx context.Context) ([]StreamState, error)

// Streams reports the size of the scorer's streams against their limits:
// scorer_stream_bytes, scorer_stream_messages and scorer_stream_max_bytes
// (-1: unlimited), labelled with the stream, so an alert can fire before
// results.max_bytes is reached (the scorer then holds inputs). Each scrape
// reads the streams' info, at most once a second and waiting at most 2 s;
// a state older than 15 s (JetStream unreachable) is not reported.
type Streams struct {
	src                StreamsSource
	bytes, msgs, limit *prometheus.Desc

	mu    sync.Mutex // one refresh at a time; guards the fields below
	state []StreamState
	at    time.Time // of the last successful refresh
	tried time.Time
}

// NewStreams returns the collector of the streams src reads.
func NewStreams(src StreamsSource) *Streams {
	l := []string{"stream"}
	return &Streams{src: src,
		bytes: prometheus.NewDesc("scorer_stream_bytes", "Bytes stored in the stream (from the stream's info).", l, nil),
		msgs:  prometheus.NewDesc("scorer_stream_messages", "Messages stored in the stream (from the stream's info).", l, nil),
		limit: prometheus.NewDesc("scorer_stream_max_bytes", "The stream's max_bytes limit (-1: none); at the limit publishes to it fail (discard new).", l, nil),
	}
}

// Describe is prometheus.Collector's.
func (s *Streams) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.bytes
	ch <- s.msgs
	ch <- s.limit
}

// Collect refreshes the states unless that was tried under a second ago,
// then reports them, or nothing when the last good states are too old.
func (s *Streams) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.tried.IsZero() || now.Sub(s.tried) >= consumerMinEvery {
		s.tried = now
		ctx, cancel := context.WithTimeout(context.Background(), consumerTimeout)
		st, err := s.src(ctx)
		cancel()
		if err == nil {
			s.state, s.at = st, now
		}
	}
	if s.at.IsZero() || now.Sub(s.at) > consumerStale {
		return
	}
	for _, st := range s.state {
		ch <- prometheus.MustNewConstMetric(s.bytes, prometheus.GaugeValue, float64(st.Bytes), st.Name)
		ch <- prometheus.MustNewConstMetric(s.msgs, prometheus.GaugeValue, float64(st.Messages), st.Name)
		ch <- prometheus.MustNewConstMetric(s.limit, prometheus.GaugeValue, float64(st.MaxBytes), st.Name)
	}
}
