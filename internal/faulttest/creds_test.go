package faulttest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// operatorSetup is a decentralized-auth (JWT) setup made in the test: an
// operator, an account with JetStream enabled, and a user of it.
type operatorSetup struct {
	serverConfig string // operator, memory resolver, preloaded account
	credsFile    string // the user's JWT and seed
	seed         string // the user's seed, the secret
}

func newOperatorSetup(t *testing.T) operatorSetup {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, err := okp.PublicKey()
	must(err)
	// JetStream in operator mode needs a system account.
	skp, err := nkeys.CreateAccount()
	must(err)
	spub, err := skp.PublicKey()
	must(err)
	sjwt, err := jwt.NewAccountClaims(spub).Encode(okp)
	must(err)
	oc := jwt.NewOperatorClaims(opub)
	oc.SystemAccount = spub
	ojwt, err := oc.Encode(okp)
	must(err)

	akp, err := nkeys.CreateAccount()
	must(err)
	apub, err := akp.PublicKey()
	must(err)
	ac := jwt.NewAccountClaims(apub)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	ajwt, err := ac.Encode(okp)
	must(err)

	ukp, err := nkeys.CreateUser()
	must(err)
	upub, err := ukp.PublicKey()
	must(err)
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	must(err)
	useed, err := ukp.Seed()
	must(err)
	creds, err := jwt.FormatUserConfig(ujwt, useed)
	must(err)
	path := filepath.Join(t.TempDir(), "scorer.creds")
	must(os.WriteFile(path, creds, 0o600))
	return operatorSetup{
		serverConfig: fmt.Sprintf("operator: %q\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n  %s: %q\n  %s: %q\n}\n",
			ojwt, spub, spub, sjwt, apub, ajwt),
		credsFile: path,
		seed:      string(useed),
	}
}

// TestCredsOperatorMode runs the scorer with nats.creds (a user JWT and
// its seed) against a server in operator mode, and checks that it scores
// and that the seed never reaches its debug log.
func TestCredsOperatorMode(t *testing.T) {
	op := newOperatorSetup(t)
	srv := StartServer(t, bins.NATSServer, ServerConfig{Extra: op.serverConfig})
	settings := ScorerSettings(t, srv.URL())
	settings["nats.creds"] = fmt.Sprintf("%q", op.credsFile)
	settings["log.level"] = "debug"
	w := testkit.StartScorer(t, bins.Scorer, "scorer creds", settings)
	nc := Connect(t, srv.URL(), nats.UserCredentials(op.credsFile))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	scoreOne(t, js, "auth-creds")
	syncScore(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Stream(ctx, "LOANS"); err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, w.Name, w.Output(), op.seed)
	if !strings.Contains(w.Output(), "auth=creds") {
		t.Errorf("the log should name the method (auth=creds)")
	}
	t.Logf("scored with creds in operator mode; no seed in %d bytes of debug log", len(w.Output()))
}
