package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values used by the service. Outcomes not listed here may be added by
// the part of the service that owns them; keep them lowercase snake_case.
const (
	// PathAsync, PathSync and PathHTTP are the "path" label values.
	PathAsync = "async"
	PathSync  = "sync"
	PathHTTP  = "http"

	// OutcomeScored: a result was produced (for arrays: the request was
	// answered, even if some items carried errors).
	OutcomeScored = "scored"
	// OutcomeInvalid: bad input, answered with an invalid_input or
	// payload_too_large error.
	OutcomeInvalid = "invalid"
	// OutcomeOverloaded: the batcher's queue was full (503).
	OutcomeOverloaded = "overloaded"
	// OutcomeNotReady: the service was not ready (HTTP 503).
	OutcomeNotReady = "not_ready"
	// OutcomeError: scoring or answering failed (internal error).
	OutcomeError = "error"

	// Outcomes of async messages beyond those above, shared by the fetcher
	// (package ingest) and the delivery policy (package worker).
	//
	// OutcomeDeadLetter: a dead letter was stored for the message.
	OutcomeDeadLetter = "dead_letter"
	// OutcomeNak: the message was nak'ed for a redelivery.
	OutcomeNak = "nak"
	// OutcomeTerm: the message was terminated (after its dead letter).
	OutcomeTerm = "term"
	// OutcomeRedelivered: a delivery that was not the message's first.
	OutcomeRedelivered = "redelivered"
)

// Metrics holds every collector of the service. All fields are registered by
// New and safe for concurrent use.
type Metrics struct {
	// MessagesTotal counts async messages by "outcome": scored, invalid,
	// dead_letter, nak, term, redelivered, ... (recorded by the consumer).
	MessagesTotal *prometheus.CounterVec
	// RequestsTotal counts sync and HTTP requests by "path" (sync, http) and
	// "outcome" (scored, invalid, overloaded, not_ready, error).
	RequestsTotal *prometheus.CounterVec
	// BatchSize is the number of rows per scored batch (recorded by the batcher).
	BatchSize prometheus.Histogram
	// BatchWait is the time in seconds from the first job's enqueue to the
	// batch's close (recorded by the batcher).
	BatchWait prometheus.Histogram
	// ScoreSeconds is the duration of one batch Predict call (batcher).
	ScoreSeconds prometheus.Histogram
	// EndToEndSeconds is the time from receiving a message or request to
	// answering it, by "path" (async, sync, http).
	EndToEndSeconds *prometheus.HistogramVec
	// InFlight is the number of rows accepted by the batcher and not yet
	// scored (recorded by the batcher only).
	InFlight prometheus.Gauge
	// ConsumerLag is num_pending from the last async message's metadata.
	ConsumerLag prometheus.Gauge
	// PublishRetries counts async result and dead-letter publishes retried
	// in place after a failure (recorded by the consumer).
	PublishRetries prometheus.Counter
	// HeldMessages is the number of async messages held (InProgress) while
	// their result or dead letter cannot be stored (consumer).
	HeldMessages prometheus.Gauge
	// UnstorableTotal counts async result and dead-letter publishes that
	// JetStream refused for good (too large for the stream or server):
	// never retried (consumer).
	UnstorableTotal prometheus.Counter
	// ModelInfo is 1 for the "version" of the current model; the reload
	// code sets the old version's series to 0 (or deletes it) on a swap.
	ModelInfo *prometheus.GaugeVec
	// SinkGapRecoveries counts the Parquet sink's gap recoveries: deliveries
	// lost on the way (or a consumer reset or rolled back), the open file
	// committed where they stopped following on, the consumer recreated.
	SinkGapRecoveries prometheus.Counter
	// SinkRestarts counts the Parquet sink's restarts after a transient
	// failure (NATS lost, a missed heartbeat, a directory error).
	SinkRestarts prometheus.Counter
	// UnseenTotal counts scored rows whose categorical value the model
	// never saw, by "feature" (the model's categorical features: bounded
	// by the models served), on every path (batcher).
	UnseenTotal *prometheus.CounterVec
}

// New creates the collectors and registers them with reg. A nil reg registers
// nothing (the collectors still work), which suits tests and tools. It panics
// if reg already holds collectors of the same names, which is a programming
// error: create one Metrics per registry.
func New(reg prometheus.Registerer) *Metrics {
	latency := prometheus.ExponentialBuckets(50e-6, 2, 16) // 50µs .. ~1.6s
	m := &Metrics{
		MessagesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scorer_messages_total",
			Help: "Async messages handled, by outcome.",
		}, []string{"outcome"}),
		RequestsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scorer_requests_total",
			Help: "Sync (NATS micro) and HTTP requests handled, by path and outcome.",
		}, []string{"path", "outcome"}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scorer_batch_size_rows",
			Help:    "Rows per scored batch.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
		}),
		BatchWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scorer_batch_wait_seconds",
			Help:    "Time from a batch's first enqueue to its close.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 2, 14), // 10µs .. ~80ms
		}),
		ScoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scorer_score_seconds",
			Help:    "Duration of one batch prediction.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 2, 16), // 5µs .. ~160ms
		}),
		EndToEndSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scorer_end_to_end_seconds",
			Help:    "Time from receiving a message or request to answering it, by path.",
			Buckets: latency,
		}, []string{"path"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scorer_in_flight_rows",
			Help: "Rows accepted by the batcher and not yet scored.",
		}),
		ConsumerLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scorer_consumer_lag_messages",
			Help: "Messages pending for the durable consumer (num_pending of the last message).",
		}),
		PublishRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scorer_publish_retries_total",
			Help: "Async result and dead-letter publishes retried in place after a failure.",
		}),
		HeldMessages: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scorer_held_messages",
			Help: "Async messages held while their result or dead letter cannot be stored.",
		}),
		UnstorableTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scorer_unstorable_total",
			Help: "Async result and dead-letter publishes JetStream refused for good (too large); never retried.",
		}),
		ModelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scorer_model_info",
			Help: "1 for the version of the model currently serving.",
		}, []string{"version"}),
		SinkGapRecoveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scorer_sink_gap_recoveries_total",
			Help: "Parquet sink gap recoveries: deliveries lost on the way, consumer recreated after the last result written.",
		}),
		SinkRestarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scorer_sink_restarts_total",
			Help: "Parquet sink restarts after a transient failure (NATS lost, missed heartbeat, directory error).",
		}),
		UnseenTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scorer_unseen_values_total",
			Help: "Scored rows whose value of a categorical feature the model never saw (it scored them with the feature's prior), by feature.",
		}, []string{"feature"}),
	}
	if reg != nil {
		reg.MustRegister(m.UnseenTotal)
		reg.MustRegister(m.MessagesTotal, m.RequestsTotal, m.BatchSize, m.BatchWait,
			m.ScoreSeconds, m.EndToEndSeconds, m.InFlight, m.ConsumerLag, m.PublishRetries, m.HeldMessages, m.UnstorableTotal, m.ModelInfo,
			m.SinkGapRecoveries, m.SinkRestarts)
	}
	return m
}

// SetModel marks version as the current model in ModelInfo, dropping the
// series of any other version.
func (m *Metrics) SetModel(version string) {
	m.ModelInfo.Reset()
	m.ModelInfo.WithLabelValues(version).Set(1)
}

// Handler serves the metrics gathered by g in the Prometheus text format.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
