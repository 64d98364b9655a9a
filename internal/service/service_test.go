package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/xgboost"
)

const xgbModel = "../../model/xgboost/testdata/binary_logistic.json"

// fileLoader loads an XGBoost JSON model from the path *path holds, as
// model.path does (the real CLI goes through package modelfile).
func fileLoader(path *string, mu *sync.Mutex) Loader {
	return func() (*model.Loaded, error) {
		mu.Lock()
		p := *path
		mu.Unlock()
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		m, err := xgboost.Load(data)
		if err != nil {
			return nil, err
		}
		return model.NewLoaded(m, model.Version("binary_logistic", data), false), nil
	}
}

type running struct {
	cancel   context.CancelFunc
	done     chan error
	natsURL  string
	httpAddr string
	reload   chan struct{}
	logs     *testkit.Buffer
}

func startService(t *testing.T, cfg Config, load Loader) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), reload: make(chan struct{}), logs: &testkit.Buffer{}}
	started := make(chan struct{})
	go func() {
		r.done <- Run(ctx, cfg, Options{
			Load:   load,
			Reload: r.reload,
			Log:    slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Started: func(natsURL, httpAddr string) {
				r.natsURL, r.httpAddr = natsURL, httpAddr
				close(started)
			},
		})
	}()
	select {
	case <-started:
	case err := <-r.done:
		t.Fatalf("Run: %v\n%s", err, r.logs)
	case <-time.After(30 * time.Second):
		t.Fatal("service did not start")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("service did not stop")
	}
	return nil
}

func testConfig(url string) Config {
	cfg := DefaultConfig()
	cfg.NATS.URL = url
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Shutdown.Timeout = 10 * time.Second
	return cfg
}

const app = `{"0":0.43,"1":0.99,"2":-1.16,"3":-1.58,"4":2.0,"5":2.02}`

func TestServeAsyncSyncHTTPAndReload(t *testing.T) {
	t.Parallel()
	srv, nc := testkit.StartNATS(t)
	path := xgbModel
	var mu sync.Mutex
	load := fileLoader(&path, &mu)
	first, err := load()
	if err != nil {
		t.Fatal(err)
	}
	want := predictOne(t, first, []float64{0.43, 0.99, -1.16, -1.58, 2.0, 2.02})

	r := startService(t, testConfig(srv.ClientURL()), load)
	if strings.Contains(r.logs.String(), "started embedded nats-server") {
		t.Error("an embedded server was started although nats.url is set")
	}
	js, _ := jetstream.New(nc)
	ctx := context.Background()

	// Async: publish, read the result from the results stream.
	if _, err := js.Publish(ctx, "loans.score", []byte(app), jetstream.WithMsgID("a-1")); err != nil {
		t.Fatal(err)
	}
	res := waitResult(t, js, "a-1")
	if res["default_proba"] != want || res["model"] != first.Version {
		t.Errorf("async result %v, want default_proba %v model %s", res, want, first.Version)
	}

	// Sync: the micro service answers through the same batcher.
	msg, err := nc.Request("loans.score.sync", []byte(app), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var syncRes map[string]any
	if err := json.Unmarshal(msg.Data, &syncRes); err != nil || syncRes["default_proba"] != want {
		t.Errorf("sync answer %s (%v), want default_proba %v", msg.Data, err, want)
	}

	// HTTP: the seed's shape, readiness, metrics.
	resp, err := http.Post("http://"+r.httpAddr+"/predict", "application/json", strings.NewReader(app))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var httpRes map[string]any
	if err := json.Unmarshal(body, &httpRes); err != nil || resp.StatusCode != 200 || httpRes["default_proba"] != want {
		t.Errorf("POST /predict: %d %s, want default_proba %v", resp.StatusCode, body, want)
	}
	if code := get(t, "http://"+r.httpAddr+"/readyz"); code != 200 {
		t.Errorf("/readyz %d while serving", code)
	}
	metricsBody := getBody(t, "http://"+r.httpAddr+"/metrics")
	if !strings.Contains(metricsBody, `scorer_model_info{version="`+first.Version+`"} 1`) || !strings.Contains(metricsBody, `scorer_messages_total{outcome="scored"} 1`) {
		t.Errorf("metrics miss the model version or the scored message:\n%s", grep(metricsBody, "scorer_"))
	}

	// Reload to a different file: results carry the new version.
	dir := t.TempDir()
	data, _ := os.ReadFile(xgbModel)
	newPath := filepath.Join(dir, "v2.json")
	if err := os.WriteFile(newPath, append(data, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	path = newPath
	mu.Unlock()
	r.reload <- struct{}{}
	second, _ := load()
	if second.Version == first.Version {
		t.Fatal("test setup: the reloaded file has the same version")
	}
	testkit.Eventually(t, 10*time.Second, "reload logged", func() bool { return strings.Contains(r.logs.String(), "model reloaded") })
	if _, err := js.Publish(ctx, "loans.score", []byte(app), jetstream.WithMsgID("a-2")); err != nil {
		t.Fatal(err)
	}
	if res := waitResult(t, js, "a-2"); res["model"] != second.Version {
		t.Errorf("after reload: model %v, want %s", res["model"], second.Version)
	}

	// A bad file keeps the current model.
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"learner":`), 0o600); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	path = bad
	mu.Unlock()
	r.reload <- struct{}{}
	testkit.Eventually(t, 10*time.Second, "failed reload logged", func() bool { return strings.Contains(r.logs.String(), "reload failed") })
	if _, err := js.Publish(ctx, "loans.score", []byte(app), jetstream.WithMsgID("a-3")); err != nil {
		t.Fatal(err)
	}
	if res := waitResult(t, js, "a-3"); res["model"] != second.Version {
		t.Errorf("after a bad reload: model %v, want the previous %s", res["model"], second.Version)
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("shutdown: %v\n%s", err, r.logs)
	}
	c, err := js.Consumer(ctx, "LOANS", "scorer")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("after shutdown: %d ack pending, %d pending", info.NumAckPending, info.NumPending)
	}
	// The sync service is gone with the process.
	if _, err := nc.Request("loans.score.sync", []byte(app), 200*time.Millisecond); !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, nats.ErrTimeout) {
		t.Errorf("sync request after shutdown: %v, want no responders", err)
	}
}

func TestServeEmbeddedByDefault(t *testing.T) {
	t.Parallel()
	path := xgbModel
	var mu sync.Mutex
	cfg := testConfig("")
	cfg.NATS.Embedded.Port = -1
	cfg.NATS.Embedded.StoreDir = filepath.Join(t.TempDir(), "data")
	r := startService(t, cfg, fileLoader(&path, &mu))
	nc, err := nats.Connect(r.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg, err := nc.Request("loans.score.sync", []byte(app), 5*time.Second)
	if err != nil || !bytes.Contains(msg.Data, []byte(`"default_proba":`)) {
		t.Fatalf("sync over the embedded server: %v %s", err, msgData(msg))
	}
	if !strings.Contains(r.logs.String(), cfg.NATS.Embedded.StoreDir) {
		t.Error("the absolute store directory is not logged")
	}
	if _, err := os.Stat(filepath.Join(cfg.NATS.Embedded.StoreDir, "jetstream")); err != nil {
		t.Errorf("no JetStream store under %s: %v", cfg.NATS.Embedded.StoreDir, err)
	}
	nc.Close()
	if err := r.stop(t); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	// The embedded server stopped last, with the process.
	if nc2, err := nats.Connect(r.natsURL, nats.Timeout(500*time.Millisecond)); err == nil {
		nc2.Close()
		t.Error("embedded server still answers after shutdown")
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	srv, _ := testkit.StartNATS(t)
	path := xgbModel
	var mu sync.Mutex
	// The test server has no auth; a token is still sent and ignored.
	cfg := testConfig(strings.Replace(srv.ClientURL(), "nats://", "nats://urluser:urlsecret-7@", 1))
	cfg.NATS.Token = "tok-secret-42"
	r := startService(t, cfg, fileLoader(&path, &mu))
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	logs := r.logs.String()
	for _, secret := range []string{"tok-secret-42", "urlsecret-7"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains the secret %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, `"auth":"token"`) {
		t.Errorf("log does not say which auth is used:\n%s", logs)
	}
}

func TestRunRefusesBadStarts(t *testing.T) {
	t.Parallel()
	path := "/does/not/exist.json"
	var mu sync.Mutex
	srv, _ := testkit.StartNATS(t)
	err := Run(context.Background(), testConfig(srv.ClientURL()), Options{Load: fileLoader(&path, &mu), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "load model") {
		t.Errorf("missing model: %v", err)
	}
	cfg := testConfig("")
	cfg.Stream.Replicas = 3
	err = Run(context.Background(), cfg, Options{Load: fileLoader(&path, &mu)})
	if err == nil || !strings.Contains(err.Error(), "stream.replicas") {
		t.Errorf("replicas 3 with the embedded server: %v", err)
	}
}

func predictOne(t *testing.T, m *model.Loaded, row []float64) float64 {
	t.Helper()
	b := model.NewBatch(m.Schema(), 1)
	f, _ := b.AppendRow()
	copy(f, row)
	out := make([]float64, 1)
	if err := m.Predict(b, m.Prediction, out); err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// waitResult polls the results stream for the result with id.
func waitResult(t *testing.T, js jetstream.JetStream, id string) map[string]any {
	t.Helper()
	s, err := js.Stream(context.Background(), "LOANS_SCORED")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	testkit.Eventually(t, 10*time.Second, "result "+id, func() bool {
		info, err := s.Info(context.Background())
		if err != nil {
			return false
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := s.GetMsg(context.Background(), seq)
			if err != nil || m.Header.Get("Nats-Msg-Id") != id {
				continue
			}
			res = nil
			return json.Unmarshal(m.Data, &res) == nil
		}
		return false
	})
	return res
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grep(s, substr string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func msgData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
