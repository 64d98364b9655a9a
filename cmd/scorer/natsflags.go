package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"

	"github.com/loan-scorer/loan-scorer/internal/service"
)

// natsFlags are the connection flags of the commands that talk to a
// running NATS (scorer ingest, scorer sink parquet): a URL (credentials
// may ride in it, nats://user:pass@host), or a creds/nkey file, and a CA.
type natsFlags struct {
	url   string
	creds string
	nkey  string
	ca    string
}

// defaultNATSURL is where `scorer serve` puts its embedded server.
const defaultNATSURL = "nats://127.0.0.1:4222"

func (n *natsFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&n.url, "nats-url", defaultNATSURL, "NATS server or cluster URL(s), comma-separated")
	fs.StringVar(&n.creds, "nats-creds", "", "NATS credentials file (JWT and seed)")
	fs.StringVar(&n.nkey, "nats-nkey", "", "NATS nkey seed file")
	fs.StringVar(&n.ca, "nats-ca", "", "CA certificate (PEM) to verify the NATS server")
}

// connect dials NATS with the flags. name labels the connection.
func (n *natsFlags) connect(name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.Timeout(5 * time.Second), nats.MaxReconnects(-1)}
	if n.creds != "" && n.nkey != "" {
		return nil, fmt.Errorf("--nats-creds and --nats-nkey: choose one")
	}
	if n.creds != "" {
		opts = append(opts, nats.UserCredentials(n.creds))
	}
	if n.nkey != "" {
		o, err := nats.NkeyOptionFromSeed(n.nkey)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey: %w", err)
		}
		opts = append(opts, o)
	}
	if n.ca != "" {
		opts = append(opts, nats.RootCAs(n.ca))
	}
	nc, err := nats.Connect(n.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", service.RedactURL(n.url), err)
	}
	return nc, nil
}
