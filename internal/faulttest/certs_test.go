package faulttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI is a test certificate authority with a server certificate for
// 127.0.0.1 and a client certificate, as PEM files.
type PKI struct {
	CA                    string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
}

// NewPKI writes a fresh CA (ECDSA P-256, valid for a day) and the two leaf
// certificates it signs into dir.
func NewPKI(dir string) (PKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PKI{}, fmt.Errorf("CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "faulttest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return PKI{}, fmt.Errorf("CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return PKI{}, fmt.Errorf("CA certificate: %w", err)
	}
	write := func(name, typ string, der []byte) (string, error) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", p, err)
		}
		return p, nil
	}
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) (string, string, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", "", fmt.Errorf("%s key: %w", name, err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return "", "", fmt.Errorf("%s certificate: %w", name, err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return "", "", fmt.Errorf("%s key: %w", name, err)
		}
		c, err := write(name+".pem", "CERTIFICATE", der)
		if err != nil {
			return "", "", err
		}
		k, err := write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
		return c, k, err
	}
	var p PKI
	if p.CA, err = write("ca.pem", "CERTIFICATE", caDER); err != nil {
		return PKI{}, err
	}
	if p.ServerCert, p.ServerKey, err = leaf(2, "server", x509.ExtKeyUsageServerAuth); err != nil {
		return PKI{}, err
	}
	if p.ClientCert, p.ClientKey, err = leaf(3, "client", x509.ExtKeyUsageClientAuth); err != nil {
		return PKI{}, err
	}
	return p, nil
}
