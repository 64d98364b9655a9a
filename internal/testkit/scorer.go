package testkit

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

// StartScorer writes settings (which must hold http.addr) to a
// configuration file, starts `bin serve --config` with env added, and
// waits until /readyz answers 200.
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
	WaitHTTPReady(t, s.Proc, s.HTTPAddr, timeout)
}

// WaitHTTPReady polls http://addr/readyz until it answers 200, failing the
// test if p exits first or timeout passes.
func WaitHTTPReady(t testing.TB, p *Proc, addr string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	Eventually(t, timeout, p.Name+" /readyz", func() bool {
		if p.Exited() {
			t.Fatalf("%s exited before ready:\n%s", p.Name, Tail(p.Output(), 4096))
		}
		resp, err := client.Get("http://" + addr + "/readyz")
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
