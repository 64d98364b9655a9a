package metrics

import "github.com/prometheus/client_golang/prometheus"

// Sink holds the Parquet sink's collectors, registered by NewSink beside
// Metrics inside `scorer serve` or on their own by `scorer sink parquet`.
// The sink's lag is its consumer's figures (Consumer, below).
type Sink struct {
	// RowsTotal counts results written into committed files.
	RowsTotal prometheus.Counter
	// FilesTotal counts files committed (renamed into place and acked).
	FilesTotal prometheus.Counter
	// LastCommitTime is the Unix time of the last commit.
	LastCommitTime prometheus.Gauge
	// GapRecoveries counts the sink's gap recoveries: deliveries lost on
	// the way (or a consumer reset or rolled back), the open file
	// committed where they stopped following on, the consumer recreated.
	GapRecoveries prometheus.Counter
	// Restarts counts the sink's restarts after a transient failure (NATS
	// lost, a missed heartbeat, a directory error).
	Restarts prometheus.Counter
	// Reading is 1 while the sink reads the stream, 0 while it waits to
	// start again after a failure.
	Reading prometheus.Gauge
}

// NewSink creates the sink's collectors and registers them with reg (nil:
// none registered).
func NewSink(reg prometheus.Registerer) *Sink {
	s := &Sink{
		RowsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scorer_sink_rows_total",
			Help: "Results the Parquet sink wrote into committed files.",
		}),
		FilesTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scorer_sink_files_total",
			Help: "Parquet files the sink committed (fsynced, renamed, acknowledged).",
		}),
		LastCommitTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scorer_sink_last_commit_timestamp_seconds",
			Help: "Unix time of the Parquet sink's last commit (0: none yet).",
		}),
		GapRecoveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scorer_sink_gap_recoveries_total",
			Help: "Parquet sink gap recoveries: deliveries lost on the way, consumer recreated after the last result written.",
		}),
		Restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scorer_sink_restarts_total",
			Help: "Parquet sink restarts after a transient failure (NATS lost, missed heartbeat, directory error).",
		}),
		Reading: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scorer_sink_reading",
			Help: "1 while the Parquet sink reads the results stream, 0 while it waits to start again.",
		}),
	}
	if reg != nil {
		reg.MustRegister(s.RowsTotal, s.FilesTotal, s.LastCommitTime, s.GapRecoveries, s.Restarts, s.Reading)
	}
	return s
}
