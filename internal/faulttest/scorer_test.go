package faulttest

import (
	"fmt"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// ScorerSettings returns the settings every fault test starts from: the
// given NATS URL, a free HTTP port, and redelivery after 2 s so a killed
// worker's messages come back within the test's budget.
func ScorerSettings(t testing.TB, natsURL string) testkit.Settings {
	t.Helper()
	return testkit.Settings{
		"nats.url":           fmt.Sprintf("%q", natsURL),
		"http.addr":          fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)),
		"consumer.ack_wait":  "2s",
		"consumer.nak_delay": "200ms",
		"shutdown.timeout":   "10s",
		"log.level":          "info",
		"workers":            "2",
	}
}
