package faulttest

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/natstest"
)

// Settings are scorer configuration keys ("consumer.ack_wait") mapped to
// YAML values ("2s", `["_INBOX.>"]`), written as configs/scorer.yaml is.
type Settings map[string]string

// YAML renders s as a nested YAML document.
func (s Settings) YAML() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	var prev []string
	for _, k := range keys {
		parts := strings.Split(k, ".")
		common := 0
		for common < len(prev)-1 && common < len(parts)-1 && prev[common] == parts[common] {
			common++
		}
		for i := common; i < len(parts)-1; i++ {
			fmt.Fprintf(&b, "%s%s:\n", strings.Repeat("  ", i), parts[i])
		}
		fmt.Fprintf(&b, "%s%s: %s\n", strings.Repeat("  ", len(parts)-1), parts[len(parts)-1], s[k])
		prev = parts
	}
	return b.String()
}

// Scorer is a running `scorer serve`.
type Scorer struct {
	*Proc
	// HTTPAddr is its HTTP listen address (host:port).
	HTTPAddr string
	// ConfigPath is the configuration file it was started with.
	ConfigPath string
}

// ScorerSettings returns the settings every fault test starts from: the
// given NATS URL, a free HTTP port, and redelivery after 2 s so a killed
// worker's messages come back within the test's budget.
func ScorerSettings(t testing.TB, natsURL string) Settings {
	t.Helper()
	return Settings{
		"nats.url":           fmt.Sprintf("%q", natsURL),
		"http.addr":          fmt.Sprintf("127.0.0.1:%d", natstest.FreePort(t)),
		"consumer.ack_wait":  "2s",
		"consumer.nak_delay": "200ms",
		"shutdown.timeout":   "10s",
		"log.level":          "info",
		"workers":            "2",
	}
}

// StartScorer writes settings to a configuration file, starts `scorer
// serve --config` with env added, and waits until /readyz answers 200.
func StartScorer(t testing.TB, bin, name string, settings Settings, env ...string) *Scorer {
	t.Helper()
	s := StartScorerNoWait(t, bin, name, settings, env...)
	s.WaitReady(t, 60*time.Second)
	return s
}

// StartScorerNoWait is StartScorer without waiting for readiness (for
// tests that expect the start to fail).
func StartScorerNoWait(t testing.TB, bin, name string, settings Settings, env ...string) *Scorer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scorer.yaml")
	if err := os.WriteFile(path, []byte(settings.YAML()), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	addr := strings.Trim(settings["http.addr"], `"`)
	p := StartProc(t, name, bin, []string{"serve", "--config", path}, env)
	return &Scorer{Proc: p, HTTPAddr: addr, ConfigPath: path}
}

// WaitReady polls /readyz until it answers 200, failing the test if the
// process exits first or timeout passes.
func (s *Scorer) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	Eventually(t, timeout, s.Name+" /readyz", func() bool {
		if s.Exited() {
			t.Fatalf("%s exited before ready:\n%s", s.Name, tail(s.Output(), 4096))
		}
		resp, err := client.Get("http://" + s.HTTPAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// Metric scrapes /metrics and returns the value of the sample named
// exactly series (name with labels, as Prometheus prints it), or 0 when
// the series is absent (a counter never incremented).
func (s *Scorer) Metric(t testing.TB, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", s.Name, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s /metrics: %q: %v", s.Name, line, err)
			}
			return f
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s /metrics: %v", s.Name, err)
	}
	return 0
}
