package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/buildinfo"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/sink"
)

// runRoot runs the scorer's command line with args and returns its stdout,
// its stderr and its error.
func runRoot(ctx context.Context, args ...string) (string, string, error) {
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// TestResultByID stores results the way the scorer does (one subject per
// id, package sink) and fetches them with `scorer result`: by --nats-url,
// by NATS_URL alone, and by --config; an id with nothing stored is exit
// status 3 naming the subject looked at. The subject of "app.1" is
// loans.scored.~YXBwLjE (docs/OPERATIONS.md: '~' and the unpadded
// base64url of "app.1").
func TestResultByID(t *testing.T) {
	clearEnv(t)
	srv, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := ingest.Setup(ctx, js, ingest.DefaultTopology(), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	store := func(subject, id, body string) {
		h := nats.Header{}
		h.Set(sink.HeaderMsgID, id)
		h.Set(sink.HeaderModel, "loan-demo@0123456789ab")
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Header: h, Data: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	store("loans.scored.app-1", "app-1", `{"id":"app-1","default_proba":0.25}`)
	store("loans.scored.~YXBwLjE", "app.1", `{"id":"app.1","default_proba":0.5}`)
	store("loans.scored.app-2", "app-2", `{"id":"app-2","default_proba":0.75}`) // a neighbour never printed

	out, errOut, err := runRoot(ctx, "result", "app-1", "--nats-url", srv.ClientURL())
	if err != nil || out != `{"id":"app-1","default_proba":0.25}`+"\n" {
		t.Errorf("result app-1: %v, printed %q\n%s", err, out, errOut)
	}

	t.Setenv("NATS_URL", srv.ClientURL()) // as the nats CLI reads it
	out, errOut, err = runRoot(ctx, "result", "app.1", "--headers")
	want := "Model: loan-demo@0123456789ab\nNats-Msg-Id: app.1\n"
	if err != nil || !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "\n\n"+`{"id":"app.1","default_proba":0.5}`+"\n") ||
		!strings.Contains(out, "Stream-Sequence: 2\n") {
		t.Errorf("result app.1 --headers: %v, printed %q\n%s", err, out, errOut)
	}
	t.Setenv("NATS_URL", "")

	cfg := writeFile(t, "nats:\n  url: "+srv.ClientURL()+"\n")
	_, _, err = runRoot(ctx, "result", "nope", "--config", cfg)
	var exit exitError
	if !errors.As(err, &exit) || exit.code != exitNotFound || !strings.Contains(err.Error(), "loans.scored.nope in stream LOANS_SCORED") {
		t.Errorf("result nope: %v, want exit %d naming loans.scored.nope", err, exitNotFound)
	}
	_, _, err = runRoot(ctx, "result", "app-1", "--config", cfg, "--dlq")
	if !errors.As(err, &exit) || exit.code != exitNotFound || !strings.Contains(err.Error(), "loans.dlq.app-1 in stream LOANS_DLQ") {
		t.Errorf("result app-1 --dlq: %v, want exit %d naming loans.dlq.app-1", err, exitNotFound)
	}
}

// TestVersion: `scorer version` and `scorer --version` print the same
// line, the build information's.
func TestVersion(t *testing.T) {
	t.Parallel()
	want := buildinfo.Read().String() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, err := runRoot(context.Background(), args...)
		if err != nil || out != want {
			t.Errorf("scorer %s: %v, printed %q, want %q", args[0], err, out, want)
		}
	}
	if !strings.HasPrefix(want, "loan-scorer ") || !strings.Contains(want, " revision ") {
		t.Errorf("version line %q", want)
	}
}
