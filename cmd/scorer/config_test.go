package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/loan-scorer/loan-scorer/internal/service"
)

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	addConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scorer.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clearEnv hides SCORER_* variables of the environment the test runs in.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "SCORER_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	clearEnv(t)
	cfg, err := loadConfig(flags(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := service.DefaultConfig(); !sameConfig(cfg, want) {
		t.Errorf("no configuration gives\n%+v\nwant the defaults\n%+v", cfg, want)
	}
}

// The shipped configs/scorer.yaml is the code's defaults, key for key.
func TestShippedConfigIsTheDefaults(t *testing.T) {
	clearEnv(t)
	path := filepath.Join(testkit.RepoRoot(t), "configs", "scorer.yaml")
	cfg, err := loadConfig(flags(t, "--config", path))
	if err != nil {
		t.Fatal(err)
	}
	if want := service.DefaultConfig(); !sameConfig(cfg, want) {
		t.Errorf("configs/scorer.yaml gives\n%+v\nwant the defaults\n%+v", cfg, want)
	}
	keys := map[string]any{}
	flattenDefaults(reflect.ValueOf(service.DefaultConfig()), "", keys)
	f := viper.New()
	f.SetConfigFile(path)
	if err := f.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	inFile := f.AllKeys()
	for k := range keys {
		if !slices.Contains(inFile, k) {
			t.Errorf("configs/scorer.yaml does not list key %s", k)
		}
	}
	if len(keys) < 50 {
		t.Errorf("only %d keys found; the flattening lost some", len(keys))
	}
}

func TestConfigPrecedence(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "batch:\n  max_size: 300\n  max_wait: 5ms\nhttp:\n  addr: 127.0.0.1:7000\nlog:\n  level: debug\n")
	t.Setenv("SCORER_BATCH_MAX_SIZE", "512")
	t.Setenv("SCORER_HTTP_ADDR", "127.0.0.1:7001")
	t.Setenv("SCORER_CONSUMER_BACKOFF", "1s, 10s,30s")
	t.Setenv("SCORER_CONSUMER_ACK_WAIT", "1s")
	t.Setenv("SCORER_REPLY_ALLOW", "_INBOX.>,callers.*")
	cfg, err := loadConfig(flags(t, "--config", path, "--http-addr", "127.0.0.1:7002", "--model", "/m/loan.cbm"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Batch.MaxSize != 512 { // env over file
		t.Errorf("batch.max_size %d, want 512 (env over file)", cfg.Batch.MaxSize)
	}
	if cfg.Batch.MaxWait != 5*time.Millisecond { // file over default
		t.Errorf("batch.max_wait %v, want 5ms (file)", cfg.Batch.MaxWait)
	}
	if cfg.HTTP.Addr != "127.0.0.1:7002" { // flag over env over file
		t.Errorf("http.addr %s, want the flag's", cfg.HTTP.Addr)
	}
	if cfg.Model.Path != "/m/loan.cbm" || cfg.Log.Level != "debug" {
		t.Errorf("model.path %q log.level %q", cfg.Model.Path, cfg.Log.Level)
	}
	if want := []time.Duration{time.Second, 10 * time.Second, 30 * time.Second}; !slices.Equal(cfg.Consumer.BackOff, want) {
		t.Errorf("consumer.backoff %v, want %v", cfg.Consumer.BackOff, want)
	}
	if want := []string{"_INBOX.>", "callers.*"}; !slices.Equal(cfg.Reply.Allow, want) {
		t.Errorf("reply.allow %v, want %v", cfg.Reply.Allow, want)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want string
	}{
		{"unknown file key", "stream:\n  nmae: X\n", nil, "stream.nmae"},
		{"unknown section", "batchh:\n  max_size: 3\n", nil, "batchh.max_size"},
		{"unknown env", "", map[string]string{"SCORER_BATCH_MAXSIZE": "3"}, "SCORER_BATCH_MAXSIZE"},
		{"not a number", "", map[string]string{"SCORER_BATCH_MAX_SIZE": "many"}, "max_size"},
		{"bare number duration", "consumer:\n  ack_wait: 30\n", nil, "ack_wait"},
		{"bad duration", "", map[string]string{"SCORER_SHUTDOWN_TIMEOUT": "soon"}, "timeout"},
		{"invalid value", "", map[string]string{"SCORER_LOG_LEVEL": "loud"}, "log.level"},
		{"replicas with embedded", "stream:\n  replicas: 3\n", nil, "stream.replicas"},
		{"backoff vs max_deliver", "consumer:\n  ack_wait: 1s\n  backoff: [1s, 2s, 3s]\n  max_deliver: 2\n", nil, "consumer.backoff"},
		{"results under dlq", "subjects:\n  results: loans.dlq.ok\n", nil, "subjects.results"},
		{"auth without url", "nats:\n  token: abc\n", nil, "nats.url"},
		{"reply.allow everything", "reply:\n  allow: ['>']\n", nil, "reply.allow"},
		{"reply.allow own results", "reply:\n  allow: ['_INBOX.>', 'loans.scored.>']\n", nil, "subjects.results"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := []string{}
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, tc.file))
			}
			_, err := loadConfig(flags(t, args...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("loadConfig = %v, want an error naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "abc") && tc.name == "auth without url" {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

// sameConfig compares two configurations, a nil list equal to an empty one
// (the file writes "[]" for an empty default).
func sameConfig(a, b service.Config) bool {
	return fmt.Sprintf("%#v", normalize(a)) == fmt.Sprintf("%#v", normalize(b))
}

func normalize(c service.Config) service.Config {
	if len(c.Model.Features) == 0 {
		c.Model.Features = nil
	}
	if len(c.Consumer.BackOff) == 0 {
		c.Consumer.BackOff = nil
	}
	return c
}
