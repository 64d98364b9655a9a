package service

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// The test models (model/xgboost/testdata, as `scorer model inspect`
// describes them): binary_logistic is binary, 6 float features "0".."5",
// all used; binary_dart is binary with the same 6 features; count_poisson
// is a Poisson regressor ("prediction") on features "0".."2";
// categorical.json is binary on features "0".."2".
const (
	dartModel    = "../../model/xgboost/testdata/binary_dart.json"
	poissonModel = "../../model/xgboost/testdata/count_poisson.json"
	threeFeature = "../../model/xgboost/testdata/categorical.json"
)

// reloadTo points the loader at p and asks for a reload (SIGHUP).
func (r *running) reloadTo(t *testing.T, mu *sync.Mutex, path *string, p string) {
	t.Helper()
	mu.Lock()
	*path = p
	mu.Unlock()
	r.requestReload(t)
}

// TestReloadRefusesIncompatibleModels: a reload to a regressor (the answer
// would turn from default_proba into prediction under the old clients) or
// to a model without features the serving one uses is refused, logged and
// counted, and the serving model stays; a compatible model loads. Before,
// both were swapped in without a word.
func TestReloadRefusesIncompatibleModels(t *testing.T) {
	t.Parallel()
	srv, _ := testkit.StartNATS(t)
	var mu sync.Mutex
	path := xgbModel
	load := fileLoader(&path, &mu)
	first, err := load()
	if err != nil {
		t.Fatal(err)
	}
	r := startService(t, testConfig(srv.ClientURL()), load)
	url := "http://" + r.httpAddr + "/metrics"
	reloads := func(outcome string) float64 {
		return metricValue(getBody(t, url), `scorer_model_reloads_total{outcome="`+outcome+`"}`)
	}

	r.reloadTo(t, &mu, &path, poissonModel)
	testkit.Eventually(t, 20*time.Second, "the regressor refused", func() bool { return reloads("refused") == 1 })
	if !strings.Contains(r.logs.String(), `the answer changes from \"default_proba\" (binary, Probability) to \"prediction\" (regression, Exponent)`) {
		t.Errorf("the refusal does not say why:\n%s", testkit.Tail(r.logs.String(), 5))
	}
	r.reloadTo(t, &mu, &path, threeFeature)
	testkit.Eventually(t, 20*time.Second, "the 3-feature model refused", func() bool { return reloads("refused") == 2 })
	if !strings.Contains(r.logs.String(), "it drops features the serving model uses: 3, 4, 5") {
		t.Errorf("the refusal does not name the features:\n%s", testkit.Tail(r.logs.String(), 5))
	}
	page := getBody(t, url)
	if metricValue(page, `scorer_model_info{version="`+first.Version+`"}`) != 1 || metricValue(page, "scorer_model_last_reload_successful") != 0 {
		t.Errorf("after refusals: want %s serving and the last reload unsuccessful:\n%s", first.Version, grep(page, "scorer_model_"))
	}
	if v := reloads("loaded"); v != 0 {
		t.Errorf("%v reloads loaded", v)
	}

	r.reloadTo(t, &mu, &path, dartModel)
	testkit.Eventually(t, 20*time.Second, "the compatible model loaded", func() bool { return reloads("loaded") == 1 })
	mu.Lock()
	path = dartModel
	mu.Unlock()
	dart, err := load()
	if err != nil {
		t.Fatal(err)
	}
	page = getBody(t, url)
	if metricValue(page, `scorer_model_info{version="`+dart.Version+`"}`) != 1 || metricValue(page, "scorer_model_last_reload_successful") != 1 {
		t.Errorf("after a compatible reload: want %s serving and the last reload successful:\n%s", dart.Version, grep(page, "scorer_model_"))
	}
}

// TestReloadIncompatibleWhenAllowed: with model.reload_incompatible the
// regressor loads (with a warning) and /predict answers its prediction.
func TestReloadIncompatibleWhenAllowed(t *testing.T) {
	t.Parallel()
	srv, _ := testkit.StartNATS(t)
	var mu sync.Mutex
	path := xgbModel
	cfg := testConfig(srv.ClientURL())
	cfg.Model.ReloadIncompatible = true
	r := startService(t, cfg, fileLoader(&path, &mu))
	r.reloadTo(t, &mu, &path, poissonModel)
	url := "http://" + r.httpAddr + "/metrics"
	testkit.Eventually(t, 20*time.Second, "the regressor loaded", func() bool {
		return metricValue(getBody(t, url), `scorer_model_reloads_total{outcome="loaded"}`) == 1
	})
	if !strings.Contains(r.logs.String(), "loading an incompatible model: model.reload_incompatible is set") {
		t.Errorf("no warning:\n%s", testkit.Tail(r.logs.String(), 5))
	}
	if body := postPredict(t, "http://"+r.httpAddr+"/predict", app); !strings.HasPrefix(body, `{"prediction":`) {
		t.Errorf("/predict answered %s, want the regressor's prediction", body)
	}
}

// TestWatchReloadsOnASymlinkSwap lays the model out as Kubernetes mounts a
// ConfigMap (model.json -> ..data/model.json, ..data -> ..v1) and swaps
// ..data to a new directory as the kubelet does (a new link renamed over
// the old): with model.watch the new model serves, no SIGHUP sent.
func TestWatchReloadsOnASymlinkSwap(t *testing.T) {
	t.Parallel()
	srv, _ := testkit.StartNATS(t)
	dir := t.TempDir()
	put := func(version, src string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, version), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, version, "model.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("..v1", xgbModel)
	if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "model.json"), filepath.Join(dir, "model.json")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	path := filepath.Join(dir, "model.json")
	cfg := testConfig(srv.ClientURL())
	cfg.Model.Path = path
	cfg.Model.Watch = true
	cfg.Model.WatchInterval = 100 * time.Millisecond
	r := startService(t, cfg, fileLoader(&path, &mu))
	testkit.Eventually(t, 10*time.Second, "the watch started", func() bool {
		return strings.Contains(r.logs.String(), "watching the model file for changes")
	})

	put("..v2", dartModel)
	if err := os.Symlink("..v2", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	dart, err := fileLoader(&path, &mu)()
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + r.httpAddr + "/metrics"
	testkit.Eventually(t, 30*time.Second, "the swapped model serving", func() bool {
		return metricValue(getBody(t, url), `scorer_model_info{version="`+dart.Version+`"}`) == 1
	})
	if !strings.Contains(r.logs.String(), "model file changed: reloading") {
		t.Errorf("the change was not logged:\n%s", testkit.Tail(r.logs.String(), 5))
	}
	if v := metricValue(getBody(t, url), `scorer_model_reloads_total{outcome="loaded"}`); v != 1 {
		t.Errorf("%v reloads loaded, want 1", v)
	}
}

// postPredict posts body to url and returns the answer's body.
func postPredict(t *testing.T, url, body string) string {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestReloadRefusesAModelExplainDoesNotFit: serving with explain.top_k 2,
// a reload to the same model saved without its sum_hessian statistics
// (which XGBoost's SHAP needs: the model still scores) is refused, as the
// async results would lose their reasons without a word; with
// model.reload_incompatible it loads. Before, it loaded and every result
// that asked for reasons got reasons_error.
func TestReloadRefusesAModelExplainDoesNotFit(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(xgbModel)
	if err != nil {
		t.Fatal(err)
	}
	stripped := filepath.Join(t.TempDir(), "no_statistics.json")
	if err := os.WriteFile(stripped, []byte(strings.ReplaceAll(string(data), `"sum_hessian"`, `"sum_hessian_dropped"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, allow := range []bool{false, true} {
		srv, _ := testkit.StartNATS(t)
		var mu sync.Mutex
		path := xgbModel
		cfg := testConfig(srv.ClientURL())
		cfg.Explain.TopK = 2
		cfg.Model.ReloadIncompatible = allow
		r := startService(t, cfg, fileLoader(&path, &mu))
		url := "http://" + r.httpAddr + "/metrics"
		r.reloadTo(t, &mu, &path, stripped)
		want := "refused"
		if allow {
			want = "loaded"
		}
		testkit.Eventually(t, 20*time.Second, "the reload "+want, func() bool {
			return metricValue(getBody(t, url), `scorer_model_reloads_total{outcome="`+want+`"}`) == 1
		})
		if !strings.Contains(r.logs.String(), "explain.top_k: 2, but model") || !strings.Contains(r.logs.String(), "cannot explain") {
			t.Errorf("reload_incompatible %v: the log does not say why:\n%s", allow, testkit.Tail(r.logs.String(), 5))
		}
	}
}
