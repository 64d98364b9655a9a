package main

import (
	"testing"

	"github.com/spf13/pflag"
)

// TestClientConfigPrecedence: the commands that talk to a running NATS
// (ingest, sink parquet, bench, result) read serve's configuration, with
// NATS_URL between SCORER_NATS_URL and the file (as the nats CLI reads
// it), and without any URL connect where serve's embedded server listens.
func TestClientConfigPrecedence(t *testing.T) {
	clearEnv(t)
	t.Setenv("NATS_URL", "")
	client := func(args ...string) string {
		t.Helper()
		fs := pflag.NewFlagSet("client", pflag.ContinueOnError)
		addClientFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfigFor(fs, clientFlags, true)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.NATS.URL
	}
	if got := client(); got != "nats://127.0.0.1:4222" {
		t.Errorf("no URL anywhere: %s, want the embedded server's default", got)
	}
	file := writeFile(t, "nats:\n  url: nats://file:4222\n")
	embedded := writeFile(t, "nats:\n  embedded:\n    host: 0.0.0.0\n    port: 5222\n")
	if got := client("--config", embedded); got != "nats://127.0.0.1:5222" {
		t.Errorf("embedded 0.0.0.0:5222 in the file: %s, want nats://127.0.0.1:5222", got)
	}
	if got := client("--config", file); got != "nats://file:4222" {
		t.Errorf("file only: %s", got)
	}
	t.Setenv("NATS_URL", "nats://natsurl:4222")
	if got := client("--config", file); got != "nats://natsurl:4222" {
		t.Errorf("NATS_URL over the file: %s", got)
	}
	t.Setenv("SCORER_NATS_URL", "nats://scorer:4222")
	if got := client("--config", file); got != "nats://scorer:4222" {
		t.Errorf("SCORER_NATS_URL over NATS_URL: %s", got)
	}
	if got := client("--config", file, "--nats-url", "nats://flag:4222"); got != "nats://flag:4222" {
		t.Errorf("the flag over everything: %s", got)
	}
}
