package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/service"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/sink"
)

// The seed's two example applications (DESIGN.md).
var seedApps = []string{
	`{"Term":84,"NoEmp":5,"CreateJob":0,"RetainedJob":5,"longitude":-77.9221,"latitude":35.3664,"GrAppv":1500000.0,"SBA_Appv":1275000.0,"is_new":true,"FranchiseCode":"0","UrbanRural":1,"City":"Other","State":"NC","Bank":"BBCN BANK","BankState":"CA","RevLineCr":"N","naics_first_two":"45","same_state":false}`,
	`{"Term":19,"NoEmp":10,"CreateJob":0,"RetainedJob":10,"longitude":-85.0117,"latitude":41.0699,"GrAppv":3500000.0,"SBA_Appv":1750000.0,"is_new":false,"FranchiseCode":"1","UrbanRural":2,"City":"Other","State":"IN","Bank":"WELLS FARGO BANK NATL ASSOC","BankState":"SD","RevLineCr":"Y","naics_first_two":"81","same_state":false}`,
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildDir  string
)

// scorerBinary builds the scorer once per test run (TestMain removes it).
func scorerBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "scorer-e2e-"); buildErr == nil {
			buildPath, buildErr = testkit.BuildScorer(buildDir)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// startServe runs `scorer serve` with args and waits for /readyz.
func startServe(t *testing.T, httpAddr string, args ...string) *testkit.Proc {
	t.Helper()
	p := testkit.StartProc(t, "scorer serve", scorerBinary(t), append([]string{"serve"}, args...), nil)
	testkit.WaitHTTPReady(t, p, httpAddr, 60*time.Second)
	return p
}

func writeConfig(t *testing.T, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, "scorer.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// demoPredictions scores the seed applications with the demo model
// in-process: the same loader and decoder, the model's own Predict.
func demoPredictions(t *testing.T) ([]float64, string) {
	t.Helper()
	m, err := modelLoader(service.ModelConfig{})()
	if err != nil {
		t.Fatal(err)
	}
	dec := ingest.NewDecoder(m.Schema(), ingest.DefaultSchemaConfig(), ingest.DefaultLimits())
	b := model.NewBatch(m.Schema(), len(seedApps))
	for _, app := range seedApps {
		if err := dec.DecodeOne([]byte(app), b); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]float64, b.Rows*m.Width())
	if err := m.Predict(b, m.Prediction, out); err != nil {
		t.Fatal(err)
	}
	return out, m.Version
}

func TestBinaryServesOverNATSAndHTTP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	natsPort, httpAddr := testkit.FreePort(t), "127.0.0.1:"+strconv.Itoa(testkit.FreePort(t))
	cfg := writeConfig(t, dir, fmt.Sprintf("nats:\n  embedded:\n    port: %d\n    store_dir: %s\nhttp:\n  addr: %s\nshutdown:\n  timeout: 20s\n",
		natsPort, filepath.Join(dir, "data"), httpAddr))
	p := startServe(t, httpAddr, "--config", cfg)
	want, version := demoPredictions(t)

	nc, err := nats.Connect("nats://127.0.0.1:" + strconv.Itoa(natsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	// Sync request-reply.
	for i, app := range seedApps {
		msg, err := nc.Request("loans.score.sync", []byte(app), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			DefaultProba float64 `json:"default_proba"`
			Model        string  `json:"model"`
		}
		if err := json.Unmarshal(msg.Data, &res); err != nil || res.DefaultProba != want[i] || res.Model != version {
			t.Errorf("sync %d: %s, want default_proba %v model %s", i, msg.Data, want[i], version)
		}
	}

	// Async with a Reply-To copy, and the stored result.
	js, _ := jetstream.New(nc, jetstream.WithDefaultTimeout(30*time.Second))
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("loans.score")
	m.Data = []byte(seedApps[1])
	m.Header.Set("Nats-Msg-Id", "e2e-1")
	m.Header.Set("Reply-To", inbox)
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	reply, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wantBody := fmt.Sprintf(`{"id":"e2e-1","default_proba":%s,"model":"%s"}`, strconv.FormatFloat(want[1], 'g', -1, 64), version)
	if string(reply.Data) != wantBody {
		t.Errorf("async reply %s, want %s", reply.Data, wantBody)
	}
	testkit.Eventually(t, 10*time.Second, "result stored", func() bool {
		s, err := js.Stream(context.Background(), "LOANS_SCORED")
		if err != nil {
			return false
		}
		r, err := s.GetLastMsgForSubject(context.Background(), sink.IDSubject("loans.scored", "e2e-1"))
		return err == nil && string(r.Data) == wantBody && r.Header.Get("Model") == version
	})

	// HTTP in the seed's shape.
	resp, err := http.Post("http://"+httpAddr+"/predict", "application/json", strings.NewReader(seedApps[0]))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if wantHTTP := `{"default_proba":` + strconv.FormatFloat(want[0], 'g', -1, 64) + `}`; resp.StatusCode != 200 || strings.TrimSpace(string(body)) != wantHTTP {
		t.Errorf("POST /predict: %d %s, want %s", resp.StatusCode, body, wantHTTP)
	}
	nc.Close()

	if code := p.Stop(t, syscall.SIGTERM, 60*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	out := p.Output()
	for _, want := range []string{"started embedded nats-server", filepath.Join(dir, "data"), "demo model", "stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// SIGTERM while batches are in flight: the scorer acks what it scored and
// naks the rest, so nothing stays unacked, and a restarted scorer gets the
// remainder at once, long before the 60s ack wait could redeliver it.
func TestBinarySIGTERMLeavesNothingUnacked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	natsPort, httpAddr := testkit.FreePort(t), "127.0.0.1:"+strconv.Itoa(testkit.FreePort(t))
	cfg := writeConfig(t, dir, fmt.Sprintf(`nats:
  embedded:
    port: %d
    store_dir: %s
http:
  addr: %s
consumer:
  ack_wait: 60s
  max_deliver: 2
batch:
  max_size: 16
  max_wait: 20ms
workers: 1
shutdown:
  timeout: 20s
`, natsPort, filepath.Join(dir, "data"), httpAddr))
	p := startServe(t, httpAddr, "--config", cfg)

	nc, err := nats.Connect("nats://127.0.0.1:" + strconv.Itoa(natsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc, jetstream.WithDefaultTimeout(30*time.Second))
	ctx := context.Background()
	const n = 3000
	futures := make([]jetstream.PubAckFuture, 0, n)
	for i := range n {
		m := nats.NewMsg("loans.score")
		m.Data = []byte(seedApps[i%2])
		m.Header.Set("Nats-Msg-Id", fmt.Sprintf("t-%d", i))
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		}
	}
	scored, _ := js.Stream(ctx, "LOANS_SCORED")
	count := func(s jetstream.Stream) uint64 {
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	// Stop as soon as scoring has started, with most of the work pending.
	testkit.Eventually(t, 30*time.Second, "first results", func() bool { return count(scored) > 0 })
	t.Logf("SIGTERM at %d results", count(scored))
	if code := p.Stop(t, syscall.SIGTERM, 60*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}

	// The server went down with the scorer; read its store through a new
	// embedded server (the restarted scorer).
	p2 := startServe(t, httpAddr, "--config", cfg)
	nc2, err := nats.Connect("nats://127.0.0.1:" + strconv.Itoa(natsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	js2, _ := jetstream.New(nc2, jetstream.WithDefaultTimeout(30*time.Second))
	scored2, _ := js2.Stream(ctx, "LOANS_SCORED")
	loans2, _ := js2.Stream(ctx, "LOANS")
	info2 := func(s jetstream.Stream) uint64 {
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	c, err := js2.Consumer(ctx, "LOANS", "scorer")
	if err != nil {
		t.Fatal(err)
	}
	// 15s is far below the 60s ack wait: what the first scorer held was
	// nak'ed, not left to time out.
	for deadline := time.Now().Add(15 * time.Second); info2(scored2) != n || info2(loans2) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			ci, err := c.Info(ctx)
			if err != nil {
				t.Fatalf("remainder not scored by the restarted scorer within 15s; consumer info: %v", err)
			}
			t.Fatalf("remainder not scored by the restarted scorer within 15s: %d results, %d in LOANS; consumer delivered %d, ack floor %d, ack pending %d, pending %d, redelivered %d",
				info2(scored2), info2(loans2), ci.Delivered.Stream, ci.AckFloor.Stream, ci.NumAckPending, ci.NumPending, ci.NumRedelivered)
		}
	}
	ci, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumAckPending != 0 {
		t.Errorf("%d messages still unacked", ci.NumAckPending)
	}
	nc2.Close()
	if code := p2.Stop(t, syscall.SIGTERM, 60*time.Second); code != 0 {
		t.Errorf("restarted scorer exit code %d", code)
	}
}

// SIGHUP reloads model.path: results name the new version; a broken file
// keeps the current model.
func TestBinaryReloadsOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	orig, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "model", "xgboost", "testdata", "binary_logistic.json"))
	if err != nil {
		t.Fatal(err)
	}
	modelPath := filepath.Join(dir, "risk.json")
	if err := os.WriteFile(modelPath, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	natsPort, httpAddr := testkit.FreePort(t), "127.0.0.1:"+strconv.Itoa(testkit.FreePort(t))
	cfg := writeConfig(t, dir, fmt.Sprintf("nats:\n  embedded:\n    port: %d\n    store_dir: %s\nhttp:\n  addr: %s\n",
		natsPort, filepath.Join(dir, "data"), httpAddr))
	p := startServe(t, httpAddr, "--config", cfg, "--model", modelPath)
	nc, err := nats.Connect("nats://127.0.0.1:" + strconv.Itoa(natsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	version := func() string {
		msg, err := nc.Request("loans.score.sync", []byte(`{"0":0.4,"1":1,"2":-1.2,"3":-1.6,"4":2,"5":2}`), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Model string `json:"model"`
		}
		if err := json.Unmarshal(msg.Data, &res); err != nil {
			t.Fatalf("%s: %v", msg.Data, err)
		}
		return res.Model
	}
	v1 := version()
	if !strings.HasPrefix(v1, "risk@") {
		t.Fatalf("version %q", v1)
	}

	// Same model, new bytes: a new version.
	if err := os.WriteFile(modelPath, append(orig, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Signal(t, syscall.SIGHUP)
	var v2 string
	testkit.Eventually(t, 20*time.Second, "new version served", func() bool { v2 = version(); return v2 != v1 })
	if !strings.HasPrefix(v2, "risk@") {
		t.Errorf("reloaded version %q", v2)
	}

	if err := os.WriteFile(modelPath, []byte(`{"learner":{`), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Signal(t, syscall.SIGHUP)
	testkit.Eventually(t, 20*time.Second, "failed reload logged", func() bool { return strings.Contains(p.Output(), "reload failed") })
	if v := version(); v != v2 {
		t.Errorf("after a bad file: version %q, want the previous %q", v, v2)
	}
	nc.Close()
	if code := p.Stop(t, syscall.SIGTERM, 60*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// holdHTTPRequest opens a POST /predict whose body never completes, so the
// HTTP server's graceful shutdown has an active request to wait for.
func holdHTTPRequest(t *testing.T, httpAddr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Term\":"); err != nil {
		t.Fatal(err)
	}
	return conn
}

// A shutdown that cannot finish within shutdown.timeout exits non-zero
// (2); a second SIGTERM during a shutdown exits at once (130).
func TestBinaryShutdownExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		timeout   string
		second    bool
		wantCode  int
		wantInLog string
	}{
		{"late", "2s", false, exitLate, "shutdown did not finish"},
		{"second signal", "60s", true, exitSecondSignal, "second signal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			natsPort, httpAddr := testkit.FreePort(t), "127.0.0.1:"+strconv.Itoa(testkit.FreePort(t))
			cfg := writeConfig(t, dir, fmt.Sprintf("nats:\n  embedded:\n    port: %d\n    store_dir: %s\nhttp:\n  addr: %s\n  read_timeout: 60s\n  write_timeout: 60s\nshutdown:\n  timeout: %s\n",
				natsPort, filepath.Join(dir, "data"), httpAddr, tc.timeout))
			p := startServe(t, httpAddr, "--config", cfg)
			holdHTTPRequest(t, httpAddr)
			// The request is active once the server has read its headers;
			// a probe on another connection orders after it.
			_ = get(t, "http://"+httpAddr+"/healthz")
			p.Signal(t, syscall.SIGTERM)
			if tc.second {
				testkit.Eventually(t, 30*time.Second, "shutdown started", func() bool { return strings.Contains(p.Output(), "shutting down") })
				p.Signal(t, syscall.SIGTERM)
			}
			if code := p.Wait(t, 90*time.Second); code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			if !strings.Contains(p.Output(), tc.wantInLog) {
				t.Errorf("log lacks %q", tc.wantInLog)
			}
		})
	}
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
