package service

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// pemFiles writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, and returns their paths.
func pemFiles(t *testing.T) (ca, srvCert, srvKey, cliCert, cliKey string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(serial int64, usage x509.ExtKeyUsage, name string) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	ca = write("ca.pem", "CERTIFICATE", caDER)
	srvCert, srvKey = leaf(2, x509.ExtKeyUsageServerAuth, "server")
	cliCert, cliKey = leaf(3, x509.ExtKeyUsageClientAuth, "client")
	return ca, srvCert, srvKey, cliCert, cliKey
}

// nats.tls.{ca,cert,key}: a server that verifies client certificates.
func TestServeOverMutualTLS(t *testing.T) {
	t.Parallel()
	ca, srvCert, srvKey, cliCert, cliKey := pemFiles(t)
	opts := testkit.NATSOptions(t.TempDir())
	tc, err := natsserver.GenTLSConfig(&natsserver.TLSConfigOpts{CertFile: srvCert, KeyFile: srvKey, CaFile: ca, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	opts.TLSConfig, opts.TLS, opts.TLSVerify = tc, true, true
	srv := testkit.StartNATSWith(t, opts)
	url := strings.Replace(srv.ClientURL(), "nats://", "tls://", 1)
	path := xgbModel
	var mu sync.Mutex

	cfg := testConfig(url)
	cfg.NATS.TLS = TLSConfig{CA: ca} // no client certificate: refused
	if err := Run(t.Context(), cfg, Options{Load: fileLoader(&path, &mu), Log: quietLog()}); err == nil {
		t.Fatal("connected without the client certificate the server requires")
	}
	cfg.NATS.TLS = TLSConfig{CA: ca, Cert: cliCert, Key: cliKey}
	r := startService(t, cfg, fileLoader(&path, &mu))
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

// nats.nkey: a seed file authenticates; the seed never reaches the log.
func TestServeWithNKey(t *testing.T) {
	t.Parallel()
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	pub, _ := user.PublicKey()
	seedFile := filepath.Join(t.TempDir(), "scorer.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	opts := testkit.NATSOptions(t.TempDir())
	opts.Nkeys = []*natsserver.NkeyUser{{Nkey: pub}}
	srv := testkit.StartNATSWith(t, opts)
	path := xgbModel
	var mu sync.Mutex
	cfg := testConfig(srv.ClientURL())
	cfg.NATS.NKey = seedFile
	r := startService(t, cfg, fileLoader(&path, &mu))
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if logs := r.logs.String(); strings.Contains(logs, string(seed)) || !strings.Contains(logs, `"auth":"nkey"`) {
		t.Errorf("log shows the seed or not the auth method:\n%s", logs)
	}
}
