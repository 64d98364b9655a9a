package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/sink"
)

// scorerPermissions is the least-privilege NATS user for `scorer serve`
// with the default subjects, stream and consumer names, when an admin has
// created the streams and the consumer (docs/OPERATIONS.md shows the same
// block). The scorer then only looks them up, consumes, acks, publishes
// results, dead letters and reply copies, answers the micro service, and
// reaps messages past max deliveries.
const scorerPermissions = `permissions: {
      publish: {
        allow: [
          "loans.scored.>", "loans.dlq.>",
          "_INBOX.>",
          "$JS.API.STREAM.INFO.LOANS", "$JS.API.STREAM.INFO.LOANS_SCORED", "$JS.API.STREAM.INFO.LOANS_DLQ",
          "$JS.API.STREAM.NAMES",
          "$JS.API.CONSUMER.INFO.LOANS.scorer",
          "$JS.API.CONSUMER.MSG.NEXT.LOANS.scorer",
          "$JS.ACK.LOANS.scorer.>",
          "$JS.API.STREAM.MSG.GET.LOANS", "$JS.API.STREAM.MSG.DELETE.LOANS",
          "$JS.API.STREAM.MSG.GET.LOANS_SCORED", "$JS.API.STREAM.MSG.GET.LOANS_DLQ"
        ]
      }
      subscribe: {
        allow: [
          "_INBOX.>",
          "loans.score.sync",
          "$SRV.>",
          "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.LOANS.scorer"
        ]
      }
    }`

// scoreOne publishes one application through JetStream and returns its
// stored result.
func scoreOne(t *testing.T, js jetstream.JetStream, id string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msg := &nats.Msg{Subject: "loans.score", Data: App(1), Header: nats.Header{"Nats-Msg-Id": []string{id}}}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatalf("publish %s: %v", id, err)
	}
	var r Result
	testkit.Eventually(t, 30*time.Second, "result "+id, func() bool {
		st, err := js.Stream(ctx, "LOANS_SCORED")
		if err != nil {
			return false
		}
		m, err := st.GetLastMsgForSubject(ctx, sink.IDSubject("loans.scored", id))
		if err != nil {
			return false
		}
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r.ID == id
	})
	if r.Proba == nil {
		t.Fatalf("%s: not scored: %+v", id, r)
	}
	return r
}

// syncScore asks the sync micro service and checks the answer is a score.
func syncScore(t *testing.T, nc *nats.Conn) {
	t.Helper()
	resp, err := nc.Request("loans.score.sync", App(2), 10*time.Second)
	if err != nil {
		t.Fatalf("sync request: %v", err)
	}
	if !strings.Contains(string(resp.Data), `"default_proba"`) {
		t.Fatalf("sync answer: %s", resp.Data)
	}
}

// assertNoSecret fails when any secret occurs in the process output.
func assertNoSecret(t *testing.T, name, output string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(output, s) {
			t.Errorf("%s logged a secret (%d bytes, starting %.4s…)", name, len(s), s)
		}
	}
}

// TestLeastPrivilegeScorer runs the scorer as a NATS user that may only do
// what scoring needs, after an admin created the streams and the consumer
// with the same topology. The scorer must start without creating or
// updating anything, score on the async and sync paths, never trip a
// permissions violation, and be unable to delete a stream.
func TestLeastPrivilegeScorer(t *testing.T) {
	const adminPass, scorerPass = "admin-pw-7d1f3a", "scorer-pw-9c2e4b"
	srv := StartServer(t, bins.NATSServer, ServerConfig{Extra: fmt.Sprintf(`authorization: {
  users: [
    {user: admin, password: %q}
    {user: scorer, password: %q, %s}
  ]
}
`, adminPass, scorerPass, scorerPermissions)})
	admin := Connect(t, srv.URL(), nats.UserInfo("admin", adminPass))
	ajs, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	// The admin step: create the streams and the consumer as the scorer
	// would with its defaults (ingest.Setup is what `scorer serve` runs).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := ingest.Setup(ctx, ajs, ingest.DefaultTopology(), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("admin setup: %v", err)
	}

	settings := ScorerSettings(t, srv.URL())
	delete(settings, "consumer.ack_wait") // the admin created the consumer with the defaults
	settings["nats.user"] = "scorer"
	settings["log.level"] = "debug"
	w := testkit.StartScorer(t, bins.Scorer, "least-privilege scorer", settings, "SCORER_NATS_PASSWORD="+scorerPass)
	scoreOne(t, ajs, "lp-1")
	syncScore(t, admin)

	// A poison message exercises the dead-letter path under the same user.
	if _, err := ajs.PublishMsg(ctx, &nats.Msg{Subject: "loans.score", Data: []byte("{"), Header: nats.Header{"Nats-Msg-Id": []string{"lp-bad"}}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "dead letter of lp-bad", func() bool { return StreamMsgs(ajs, "LOANS_DLQ") == 1 })

	// Checked before the test's own refused delete below: the server logs
	// "Publish Violation", the scorer "permissions violation".
	for _, p := range []*testkit.Proc{w.Proc, srv.Proc()} {
		if out := p.Output(); strings.Contains(strings.ToLower(out), "violation") {
			t.Errorf("%s reports a permissions violation:\n%s", p.Name, grepLines(strings.ToLower(out), "violation"))
		}
	}
	// The scorer's own credentials cannot touch the topology.
	sc := Connect(t, srv.URL(), nats.UserInfo("scorer", scorerPass))
	sjs, err := jetstream.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
	defer dcancel()
	if err := sjs.DeleteStream(dctx, "LOANS"); err == nil {
		t.Error("the scorer user deleted stream LOANS")
	}
	if _, err := ajs.Stream(ctx, "LOANS"); err != nil {
		t.Errorf("stream LOANS: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, "the server logs the refused delete", func() bool {
		return strings.Contains(srv.Proc().Output(), "Publish Violation")
	})
	for _, word := range []string{"created stream", "updated stream", "created consumer", "updated consumer"} {
		if strings.Contains(w.Output(), word) {
			t.Errorf("the scorer %s: the admin step should have left nothing to do", word)
		}
	}
	assertNoSecret(t, w.Name, w.Output(), scorerPass, adminPass)
	t.Logf("scored async and sync, dead-lettered, no permission violation, stream delete refused, no secret in %d bytes of debug log", len(w.Output()))
}

// TestAuthMethods runs the scorer against servers that require each way
// of authenticating the scorer supports, with the secret passed the way an
// operator would (file, environment), and checks it scores and never logs
// the secret, also when the secret is wrong and the start fails.
func TestAuthMethods(t *testing.T) {
	dir := t.TempDir()
	pki, err := NewPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	pub, _ := user.PublicKey()
	seedFile := filepath.Join(dir, "scorer.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(pki.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	keyBody := strings.Split(string(keyPEM), "\n")[1] // a line of the private key

	cases := []struct {
		name     string
		server   string
		settings testkit.Settings
		env      []string
		client   []nats.Option
		secrets  []string
		badEnv   []string // a wrong secret: the start must fail without logging it
		scheme   string
	}{
		{
			name:    "token",
			server:  "authorization: { token: \"tok-5e8a1c7d\" }\n",
			env:     []string{"SCORER_NATS_TOKEN=tok-5e8a1c7d"},
			client:  []nats.Option{nats.Token("tok-5e8a1c7d")},
			secrets: []string{"tok-5e8a1c7d", "tok-wrong-3b9f"},
			badEnv:  []string{"SCORER_NATS_TOKEN=tok-wrong-3b9f"},
		},
		{
			name:     "user-password",
			server:   "authorization: { users: [ {user: scorer, password: \"pw-1f4c9e2a\"} ] }\n",
			settings: testkit.Settings{"nats.user": "scorer"},
			env:      []string{"SCORER_NATS_PASSWORD=pw-1f4c9e2a"},
			client:   []nats.Option{nats.UserInfo("scorer", "pw-1f4c9e2a")},
			secrets:  []string{"pw-1f4c9e2a", "pw-wrong-77aa"},
			badEnv:   []string{"SCORER_NATS_PASSWORD=pw-wrong-77aa"},
		},
		{
			name:     "nkey",
			server:   fmt.Sprintf("authorization: { users: [ {nkey: %q} ] }\n", pub),
			settings: testkit.Settings{"nats.nkey": fmt.Sprintf("%q", seedFile)},
			client:   []nats.Option{nkeyOption(t, seedFile)},
			secrets:  []string{string(seed)},
		},
		{
			name: "tls-client-certificate",
			server: fmt.Sprintf("tls: {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  verify: true\n  timeout: 5\n}\n",
				pki.ServerCert, pki.ServerKey, pki.CA),
			settings: testkit.Settings{"nats.tls.ca": fmt.Sprintf("%q", pki.CA), "nats.tls.cert": fmt.Sprintf("%q", pki.ClientCert), "nats.tls.key": fmt.Sprintf("%q", pki.ClientKey)},
			client:   []nats.Option{nats.RootCAs(pki.CA), nats.ClientCert(pki.ClientCert, pki.ClientKey)},
			secrets:  []string{keyBody},
			scheme:   "tls",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := StartServer(t, bins.NATSServer, ServerConfig{Extra: tc.server})
			url := srv.URL()
			if tc.scheme != "" {
				url = strings.Replace(url, "nats://", tc.scheme+"://", 1)
			}
			settings := ScorerSettings(t, url)
			settings["log.level"] = "debug"
			for k, v := range tc.settings {
				settings[k] = v
			}
			w := testkit.StartScorer(t, bins.Scorer, "scorer "+tc.name, settings, tc.env...)
			nc := Connect(t, url, tc.client...)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			scoreOne(t, js, "auth-"+tc.name)
			syncScore(t, nc)
			if code := w.Stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
				t.Errorf("exit code %d after SIGTERM", code)
			}
			assertNoSecret(t, w.Name, w.Output(), tc.secrets...)

			if tc.badEnv != nil {
				bad := testkit.StartScorerNoWait(t, bins.Scorer, "scorer "+tc.name+" wrong secret", settings, tc.badEnv...)
				testkit.Eventually(t, time.Minute, "the start with a wrong secret fails", bad.Exited)
				if !strings.Contains(strings.ToLower(bad.Output()), "authorization") {
					t.Errorf("a wrong secret should fail naming the authorization error:\n%s", testkit.Tail(bad.Output(), 2048))
				}
				assertNoSecret(t, bad.Name, bad.Output(), tc.secrets...)
			}
		})
	}
}

// TestPlainClientRefusedByTLSServer checks the server side of the TLS case
// is real: without a client certificate the same server refuses.
func TestPlainClientRefusedByTLSServer(t *testing.T) {
	pki, err := NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := StartServer(t, bins.NATSServer, ServerConfig{Extra: fmt.Sprintf("tls: {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  verify: true\n}\n",
		pki.ServerCert, pki.ServerKey, pki.CA)})
	nc, err := nats.Connect(strings.Replace(srv.URL(), "nats://", "tls://", 1), nats.RootCAs(pki.CA), nats.MaxReconnects(0), nats.Timeout(5*time.Second))
	if err == nil {
		nc.Close()
		t.Fatal("a client without a certificate connected to a server that requires one")
	}
	t.Logf("refused as expected: %v", err)
}

func nkeyOption(t *testing.T, seedFile string) nats.Option {
	t.Helper()
	o, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(head(out, 20), "\n")
}

// TestEmbeddedServerLoopbackOnly starts the scorer with its embedded NATS
// server (no nats.url, no authentication) and checks that the server
// answers on 127.0.0.1 but not on the machine's other addresses.
func TestEmbeddedServerLoopbackOnly(t *testing.T) {
	var external []string
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			external = append(external, ipn.IP.String())
		}
	}
	if len(external) == 0 {
		t.Skip("no non-loopback IPv4 address on this machine")
	}
	port := testkit.FreePort(t)
	settings := ScorerSettings(t, "")
	delete(settings, "nats.url")
	settings["nats.embedded.port"] = fmt.Sprint(port)
	settings["nats.embedded.store_dir"] = fmt.Sprintf("%q", t.TempDir())
	testkit.StartScorer(t, bins.Scorer, "embedded scorer", settings)
	local := fmt.Sprintf("127.0.0.1:%d", port)
	c, err := net.DialTimeout("tcp", local, 2*time.Second)
	if err != nil {
		t.Fatalf("embedded server not on %s: %v", local, err)
	}
	c.Close()
	for _, ip := range external {
		addr := net.JoinHostPort(ip, fmt.Sprint(port))
		if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			c.Close()
			t.Errorf("the embedded server answers on %s: it must listen on loopback only", addr)
		}
	}
	t.Logf("embedded server on %s; refused on %v", local, external)
}
