package main

import (
	"io"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"

	"github.com/loan-scorer/loan-scorer/internal/service"
)

// clientFlags are the flags of the commands that talk to a running NATS
// (scorer ingest, sink parquet, bench, result): --config and the
// connection and log keys. Everything else comes from the same
// configuration as serve's: the file, SCORER_* variables and NATS_URL
// (see loadConfigFor).
var clientFlags = []configFlag{
	{"nats-url", "nats.url", "NATS server or cluster URL(s), comma-separated; default: NATS_URL, else where serve's embedded server listens"},
	{"nats-creds", "nats.creds", "NATS credentials file (JWT and seed)"},
	{"nats-nkey", "nats.nkey", "NATS nkey seed file"},
	{"nats-ca", "nats.tls.ca", "CA certificate (PEM) to verify the NATS server"},
	{"nats-cert", "nats.tls.cert", "client certificate (PEM), with --nats-key"},
	{"nats-key", "nats.tls.key", "client key (PEM), with --nats-cert"},
	{"log-level", "log.level", "debug, info, warn or error"},
	{"log-format", "log.format", "text or json"},
}

// addClientFlags adds --config and clientFlags to fs.
func addClientFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "configuration file (YAML; see configs/scorer.yaml), as serve reads it")
	for _, f := range clientFlags {
		fs.String(f.flag, "", f.usage+" (key "+f.key+")")
	}
}

// clientConn reads the configuration of a client command from fs (see
// loadConfigFor) and connects to its NATS as name; connection losses are
// logged to logTo as log.* asks.
func clientConn(fs *pflag.FlagSet, name string, logTo io.Writer) (service.Config, *nats.Conn, error) {
	cfg, err := loadConfigFor(fs, clientFlags, true)
	if err != nil {
		return service.Config{}, nil, err
	}
	nc, err := cfg.NATS.Connect(name, newLogger(cfg.Log, logTo))
	if err != nil {
		return service.Config{}, nil, err
	}
	return cfg, nc, nil
}

// fromConfig sets *v to the configuration's value unless the flag named
// flag was given: a client's subjects and streams follow serve's
// configuration unless overridden.
func fromConfig(fs *pflag.FlagSet, flag string, v *string, conf string) {
	if !fs.Changed(flag) {
		*v = conf
	}
}
