package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/loan-scorer/loan-scorer/internal/buildinfo"
)

// Label values used by the service. Outcomes not listed here may be added by
// the part of the service that owns them; keep them lowercase snake_case.
//
// The counters partition what they count: every async message that is
// finished is counted once in scorer_messages_total, every delivery once
// in scorer_deliveries_total, every sync or HTTP request once in
// scorer_requests_total. Sums over a family's label values therefore mean
// something (messages finished, deliveries settled, requests answered);
// the side effects (dead letters, redeliveries, retries) have counters of
// their own and are never outcomes.
const (
	// PathAsync, PathSync and PathHTTP are the "path" label values.
	PathAsync = "async"
	PathSync  = "sync"
	PathHTTP  = "http"

	// OutcomeScored: a result was produced (async: its score is stored and
	// the message acked; for arrays: the request was answered, even if
	// some items carried errors).
	OutcomeScored = "scored"
	// OutcomeInvalid: bad input, answered with an invalid_input or
	// payload_too_large error (async: error result and dead letter stored,
	// the message terminated).
	OutcomeInvalid = "invalid"
	// OutcomeOverloaded: the batcher's queue was full (503).
	OutcomeOverloaded = "overloaded"
	// OutcomeNotReady: the service was not ready (HTTP 503).
	OutcomeNotReady = "not_ready"
	// OutcomeError: scoring or answering failed (internal error).
	OutcomeError = "error"

	// Outcomes of async messages beyond those above.
	//
	// OutcomeUnstorable: the score could never be stored (too large for
	// the stream or server): an error result and a dead letter stand for
	// it, the message is terminated.
	OutcomeUnstorable = "unstorable"
	// OutcomeTimeout: every delivery of the message timed out; the
	// max-deliveries reaper stored a timeout result and a dead letter and
	// deleted it from the input stream.
	OutcomeTimeout = "timeout"

	// ActionAck, ActionTerm and ActionNak are the "action" label values of
	// scorer_deliveries_total: how a delivery was settled.
	ActionAck  = "ack"
	ActionTerm = "term"
	ActionNak  = "nak"

	// ReloadLoaded, ReloadFailed and ReloadRefused are the "outcome" label
	// values of scorer_model_reloads_total.
	ReloadLoaded = "loaded"
	// ReloadFailed: the file could not be loaded, failed its self-check,
	// or the load was abandoned past model.load_timeout.
	ReloadFailed = "failed"
	// ReloadRefused: the new model loaded but is incompatible with the
	// serving one (output kind changed, a feature dropped).
	ReloadRefused = "refused"
)

// Metrics holds every collector of the service. All fields are registered by
// New and safe for concurrent use.
type Metrics struct {
	// MessagesTotal counts finished async messages (acked or terminated),
	// each once, by "outcome": scored, invalid, unstorable, timeout. A
	// message nak'ed for a redelivery is not finished and not counted.
	MessagesTotal *prometheus.CounterVec
	// DeliveriesTotal counts async deliveries by how they were settled,
	// each once: "action" ack, term or nak (recorded by the consumer).
	DeliveriesTotal *prometheus.CounterVec
	// RedeliveriesTotal counts deliveries that were not the message's
	// first (a subset of DeliveriesTotal).
	RedeliveriesTotal prometheus.Counter
	// DeadLettersTotal counts dead letters stored (bad input, unstorable
	// results, messages past max deliveries).
	DeadLettersTotal prometheus.Counter
	// RequestsTotal counts sync and HTTP requests, each once, by "path"
	// (sync, http) and "outcome" (scored, invalid, overloaded, not_ready,
	// error, and the sync service's reply_refused, reply_failed).
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
	// ReloadsTotal counts model reloads by "outcome": loaded, failed,
	// refused.
	ReloadsTotal *prometheus.CounterVec
	// LastReloadSuccessful is 1 when the last reload loaded its model (or
	// none was tried), 0 when it failed or was refused.
	LastReloadSuccessful prometheus.Gauge
	// LastReloadSuccessTime is the Unix time of the last model load that
	// served (the start's, then each successful reload's).
	LastReloadSuccessTime prometheus.Gauge
	// UnseenTotal counts scored rows whose categorical value the model
	// never saw, by "feature" (the model's categorical features: bounded
	// by the models served), on every path (batcher).
	UnseenTotal *prometheus.CounterVec
}

// UnseenValuesName is the name of Metrics.UnseenTotal's family, which has
// no series until a model that reports unseen values has scored one.
const UnseenValuesName = "scorer_unseen_values_total"

// New creates the collectors and registers them with reg, with
// scorer_build_info. A nil reg registers nothing (the collectors still
// work), which suits tests and tools. It panics if reg already holds
// collectors of the same names, which is a programming error: create one
// Metrics per registry.
func New(reg prometheus.Registerer) *Metrics {
	latency := prometheus.ExponentialBuckets(50e-6, 2, 16) // 50µs .. ~1.6s
	m := &Metrics{
		MessagesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scorer_messages_total",
			Help: "Async messages finished (acked or terminated), each once, by outcome: scored, invalid, unstorable, timeout.",
		}, []string{"outcome"}),
		DeliveriesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scorer_deliveries_total",
			Help: "Async deliveries settled, each once, by action: ack, term, nak.",
		}, []string{"action"}),
		RedeliveriesTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scorer_redeliveries_total",
			Help: "Async deliveries that were not the message's first.",
		}),
		DeadLettersTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scorer_dead_letters_total",
			Help: "Dead letters stored: bad input, unstorable results, messages past max deliveries.",
		}),
		RequestsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scorer_requests_total",
			Help: "Sync (NATS micro) and HTTP requests, each once, by path and outcome.",
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
		ReloadsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scorer_model_reloads_total",
			Help: "Model reloads by outcome: loaded, failed (load, self-check or timeout), refused (incompatible model).",
		}, []string{"outcome"}),
		LastReloadSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scorer_model_last_reload_successful",
			Help: "1 when the last model reload served its model (or none was tried), 0 when it failed or was refused.",
		}),
		LastReloadSuccessTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scorer_model_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last model load that served (at start, then each successful reload).",
		}),
		UnseenTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: UnseenValuesName,
			Help: "Scored rows whose value of a categorical feature the model never saw (it scored them with the feature's prior), by feature.",
		}, []string{"feature"}),
	}
	m.LastReloadSuccessful.Set(1)
	for _, o := range []string{ReloadLoaded, ReloadFailed, ReloadRefused} {
		m.ReloadsTotal.WithLabelValues(o) // export zeros: rate() needs the series before the first event
	}
	for _, a := range []string{ActionAck, ActionTerm, ActionNak} {
		m.DeliveriesTotal.WithLabelValues(a)
	}
	if reg != nil {
		reg.MustRegister(m.MessagesTotal, m.DeliveriesTotal, m.RedeliveriesTotal, m.DeadLettersTotal, m.RequestsTotal,
			m.BatchSize, m.BatchWait, m.ScoreSeconds, m.EndToEndSeconds, m.InFlight, m.PublishRetries, m.HeldMessages,
			m.UnstorableTotal, m.ModelInfo, m.ReloadsTotal, m.LastReloadSuccessful, m.LastReloadSuccessTime, m.UnseenTotal)
		RegisterBuildInfo(reg)
	}
	return m
}

// SetModel marks version as the current model in ModelInfo, dropping the
// series of any other version.
func (m *Metrics) SetModel(version string) {
	m.ModelInfo.Reset()
	m.ModelInfo.WithLabelValues(version).Set(1)
}

// RegisterBuildInfo registers scorer_build_info: 1, labelled with the
// binary's module version, VCS revision and Go version (package buildinfo).
func RegisterBuildInfo(reg prometheus.Registerer) {
	in := buildinfo.Read()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scorer_build_info",
		Help: "1, labelled with the scorer binary's version, VCS revision and Go version.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(in.Version, in.ShortRevision(), in.GoVersion).Set(1)
	reg.MustRegister(g)
}

// Handler serves the metrics gathered by g in the Prometheus text format.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
