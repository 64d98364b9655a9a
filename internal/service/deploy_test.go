package service

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// dashboardExprs returns every query expression of a Grafana dashboard,
// panels inside rows included.
func dashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string                  `json:"title"`
		Targets []struct{ Expr string } `json:"targets"`
		Panels  []json.RawMessage       `json:"panels"`
	}
	var dash struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var exprs []string
	var walk func([]json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, raw := range ps {
			var p panel
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	return exprs
}

// promtool runs promtool with args in dir and fails the test on an error.
func promtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(testkit.Promtool(t), args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

var metricName = regexp.MustCompile(`\bscorer_[a-z_]+\b`)

// TestDeployKitParses checks the operator's kit in deploy/: promtool check
// rules and promtool test rules pass on the alert rules; every expression
// of the Grafana dashboard parses (promtool checks each as a recording
// rule, Grafana's $__rate_interval read as 5m); and every scorer_* metric
// the rules and the dashboard name is one a real serve with the Parquet
// sink exports (its /metrics "# TYPE" lines), so a renamed metric cannot
// leave a silent panel or an alert that never fires.
func TestDeployKitParses(t *testing.T) {
	t.Parallel()
	root := testkit.RepoRoot(t)
	prom := filepath.Join(root, "deploy", "prometheus")
	promtool(t, prom, "check", "rules", "alerts.yml")
	promtool(t, prom, "test", "rules", "alerts_test.yml")

	exprs := dashboardExprs(t, filepath.Join(root, "deploy", "grafana", "loan-scorer.json"))
	if len(exprs) < 10 {
		t.Fatalf("%d dashboard expressions", len(exprs))
	}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		e = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h").Replace(e)
		q, _ := json.Marshal(e) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      - record: dashboard:expr_%d\n        expr: %s\n", i, q)
	}
	tmp := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmp, "dashboard.yml"), []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	promtool(t, tmp, "check", "rules", "dashboard.yml")

	used := map[string]bool{}
	alerts, err := os.ReadFile(filepath.Join(prom, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range append(exprs, string(alerts)) {
		for _, name := range metricName.FindAllString(text, -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				name = strings.TrimSuffix(name, suffix)
			}
			used[name] = true
		}
	}

	srv, _ := testkit.StartNATS(t)
	cfg := testConfig(srv.ClientURL())
	cfg.Sink.Parquet.Dir = t.TempDir()
	var mu sync.Mutex
	path := xgbModel
	r := startService(t, cfg, fileLoader(&path, &mu))
	// One request, so that the request families have a series.
	if body := postPredict(t, "http://"+r.httpAddr+"/predict", app); !strings.HasPrefix(body, `{"default_proba":`) {
		t.Fatalf("/predict: %s", body)
	}
	exported := map[string]bool{}
	testkit.Eventually(t, 20*time.Second, "the consumer figures exported", func() bool {
		page := getBody(t, "http://"+r.httpAddr+"/metrics")
		for line := range strings.SplitSeq(page, "\n") {
			if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
				exported[strings.Fields(rest)[0]] = true
			}
		}
		return exported["scorer_consumer_pending_messages"] && exported["scorer_sink_lag_messages"] && exported["scorer_stream_bytes"]
	})
	// scorer_unseen_values_total has a series only once a model that
	// reports unseen values (CatBoost) has scored one; this XGBoost model
	// never does. Its name is checked against the metrics package instead.
	exported[metrics.UnseenValuesName] = true
	var unknown []string
	for name := range used {
		if !exported[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Errorf("deploy/ names metrics serve does not export: %v", unknown)
	}
}
