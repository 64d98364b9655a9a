package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestNewRegistersAndServes(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.MessagesTotal.WithLabelValues(OutcomeScored).Add(3)
	m.RequestsTotal.WithLabelValues(PathSync, OutcomeOverloaded).Inc()
	m.BatchSize.Observe(7)
	m.BatchWait.Observe(0.001)
	m.ScoreSeconds.Observe(0.0001)
	m.EndToEndSeconds.WithLabelValues(PathHTTP).Observe(0.002)
	m.InFlight.Set(2)
	m.ConsumerLag.Set(42)
	m.PublishRetries.Add(5)
	m.HeldMessages.Set(4)
	m.SinkGapRecoveries.Inc()
	m.SinkRestarts.Add(2)
	m.SetModel("a@000000000000")
	m.SetModel("b@111111111111") // replaces a's series

	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	for _, want := range []string{
		`scorer_messages_total{outcome="scored"} 3`,
		`scorer_requests_total{outcome="overloaded",path="sync"} 1`,
		`scorer_batch_size_rows_bucket{le="8"} 1`,
		`scorer_batch_wait_seconds_count 1`,
		`scorer_score_seconds_count 1`,
		`scorer_end_to_end_seconds_count{path="http"} 1`,
		`scorer_in_flight_rows 2`,
		`scorer_consumer_lag_messages 42`,
		`scorer_publish_retries_total 5`,
		`scorer_held_messages 4`,
		`scorer_sink_gap_recoveries_total 1`,
		`scorer_sink_restarts_total 2`,
		`scorer_model_info{version="b@111111111111"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, "a@000000000000") {
		t.Error("the previous model's series is still exported")
	}
}

func TestNewWithoutRegistry(t *testing.T) {
	m := New(nil) // collectors work, nothing is registered
	m.BatchSize.Observe(1)
	New(prometheus.NewRegistry())
}
