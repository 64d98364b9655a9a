package service

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

func TestServeAuthenticatesWithUserPassword(t *testing.T) {
	t.Parallel()
	opts := testkit.NATSOptions(t.TempDir())
	opts.Username, opts.Password = "scorer", "pw-s3cret"
	srv := testkit.StartNATSWith(t, opts)
	path := xgbModel
	var mu sync.Mutex

	cfg := testConfig(srv.ClientURL())
	cfg.NATS.User, cfg.NATS.Password = "scorer", "wrong-pw-77"
	err := Run(context.Background(), cfg, Options{Load: fileLoader(&path, &mu), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "connect to NATS") {
		t.Fatalf("wrong password: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-pw-77") {
		t.Errorf("the error shows the password: %v", err)
	}

	cfg.NATS.Password = "pw-s3cret"
	r := startService(t, cfg, fileLoader(&path, &mu))
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if logs := r.logs.String(); strings.Contains(logs, "pw-s3cret") || !strings.Contains(logs, `"auth":"user"`) {
		t.Errorf("log shows the password or not the auth method:\n%s", logs)
	}
}

func TestNATSConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    NATSConfig
		want string
	}{
		{"two methods", NATSConfig{URL: "nats://h:4222", Token: "t", Creds: "/c"}, "choose one"},
		{"password alone", NATSConfig{URL: "nats://h:4222", Password: "p"}, "nats.user"},
		{"cert without key", NATSConfig{URL: "nats://h:4222", TLS: TLSConfig{Cert: "/c"}}, "nats.tls.key"},
		{"auth with embedded", NATSConfig{Token: "secret-tok", Embedded: embeddedDefault()}, "nats.url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret-tok") {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
	if got := RedactURL("nats://u:p@a:4222, tls://tok@b:4222,nats://c:4222"); got != "nats://[redacted]@a:4222,tls://[redacted]@b:4222,nats://c:4222" {
		t.Errorf("RedactURL = %q", got)
	}
}
