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
	m.DeliveriesTotal.WithLabelValues(ActionNak).Inc()
	m.RedeliveriesTotal.Inc()
	m.DeadLettersTotal.Add(2)
	m.ReloadsTotal.WithLabelValues(ReloadRefused).Inc()
	m.LastReloadSuccessful.Set(0)
	m.PublishRetries.Add(5)
	m.HeldMessages.Set(4)
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
		`scorer_deliveries_total{action="nak"} 1`,
		`scorer_deliveries_total{action="ack"} 0`, // exported before the first event
		`scorer_redeliveries_total 1`,
		`scorer_dead_letters_total 2`,
		`scorer_model_reloads_total{outcome="refused"} 1`,
		`scorer_model_reloads_total{outcome="failed"} 0`,
		`scorer_model_last_reload_successful 0`,
		`scorer_build_info{goversion="`,
		`scorer_publish_retries_total 5`,
		`scorer_held_messages 4`,
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
