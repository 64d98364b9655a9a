package service

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/demo"
)

func demoLoader() (*model.Loaded, error) {
	data := demo.Bytes()
	m, err := catboost.Load(data)
	if err != nil {
		return nil, err
	}
	return model.NewLoaded(m, model.Version(demo.Name, data), true), nil
}

const demoApp = `{"Term":84,"NoEmp":5,"CreateJob":0,"RetainedJob":5,"longitude":-77.9221,"latitude":35.3664,"GrAppv":1500000.0,"SBA_Appv":1275000.0,"is_new":true,"FranchiseCode":"0","UrbanRural":1,"City":"Other","State":"NC","Bank":"BBCN BANK","BankState":"CA","RevLineCr":"N","naics_first_two":"45","same_state":false}`

// TestServeExplain: explain.top_k and explain.codes reach the async path:
// a message without an Explain header gets top_k reasons, grouped by the
// shipped demo mapping (GrAppv and SBA_Appv under one code).
func TestServeExplain(t *testing.T) {
	t.Parallel()
	srv, nc := testkit.StartNATS(t)
	cfg := testConfig(srv.ClientURL())
	cfg.Explain.TopK = 4
	cfg.Explain.Codes = filepath.Join(testkit.RepoRoot(t), "configs", "reason-codes.yaml")
	startService(t, cfg, demoLoader)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), "loans.score", []byte(demoApp), jetstream.WithMsgID("explained")); err != nil {
		t.Fatal(err)
	}
	res := waitResult(t, js, "explained")
	reasons, _ := res["reasons"].([]any)
	if len(reasons) == 0 || len(reasons) > 4 {
		t.Fatalf("result %v: want 1 to 4 reasons", res)
	}
	codes := map[string]bool{}
	for _, r := range reasons {
		code, _ := r.(map[string]any)["code"].(string)
		codes[code] = true
	}
	// The seed application's largest reasons on the demo model (see
	// ingest's TestHTTPPredictExplain): Term, Bank and GrAppv; with the
	// mapping they are L02, G02 and L01.
	for _, c := range []string{"L02", "G02"} {
		if !codes[c] {
			t.Errorf("reasons %v lack code %s", reasons, c)
		}
	}
}

// TestRunRefusesBadExplain: explain.* that cannot work stop the start with
// an error naming the key.
func TestRunRefusesBadExplain(t *testing.T) {
	t.Parallel()
	srv, _ := testkit.StartNATS(t)
	bad := filepath.Join(t.TempDir(), "codes.yaml")
	if err := os.WriteFile(bad, []byte("codes:\n  - code: X1\n    text: Not a feature\n    features: [Income]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"top_k over the features", func(c *Config) { c.Explain.TopK = 19 }, "explain.top_k: 19, but the model has 18 features"},
		{"negative top_k", func(c *Config) { c.Explain.TopK = -1 }, "explain.top_k"},
		{"no such file", func(c *Config) { c.Explain.Codes = "/does/not/exist.yaml" }, "explain.codes"},
		{"unknown feature", func(c *Config) { c.Explain.Codes = bad }, `no feature "Income" (code "X1")`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(srv.ClientURL())
			c.change(&cfg)
			err := Run(context.Background(), cfg, Options{Load: demoLoader, Log: quietLog()})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v, want an error containing %q", err, c.want)
			}
		})
	}
}
