package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/loan-scorer/loan-scorer/internal/embedded"
	"github.com/loan-scorer/loan-scorer/internal/ratelog"
)

// NATSConfig says how to reach NATS (keys nats.*). With URL empty the
// scorer starts (or joins) the embedded server instead.
type NATSConfig struct {
	// URL of the server or cluster (comma-separated); empty: embedded.
	URL string `mapstructure:"url"`
	// Creds is a credentials file (JWT and seed).
	Creds string `mapstructure:"creds"`
	// User and Password authenticate with a user name.
	User     string `mapstructure:"user"`
	Password string `mapstructure:"password"`
	// Token authenticates with a token.
	Token string `mapstructure:"token"`
	// NKey is an nkey seed file.
	NKey string    `mapstructure:"nkey"`
	TLS  TLSConfig `mapstructure:"tls"`
	// Embedded configures the server started when URL is empty.
	Embedded embedded.Config `mapstructure:"embedded"`
}

// TLSConfig holds PEM files for TLS to NATS (keys nats.tls.*).
type TLSConfig struct {
	CA   string `mapstructure:"ca"`
	Cert string `mapstructure:"cert"`
	Key  string `mapstructure:"key"`
}

// DefaultNATSConfig returns the embedded server's defaults and no URL.
func DefaultNATSConfig() NATSConfig { return NATSConfig{Embedded: embeddedDefault()} }

// Validate reports conflicting or incomplete settings, naming the key and
// never the secret.
func (c NATSConfig) Validate() error {
	var errs []error
	methods := []string{}
	if c.Creds != "" {
		methods = append(methods, "nats.creds")
	}
	if c.User != "" || c.Password != "" {
		methods = append(methods, "nats.user/nats.password")
	}
	if c.Token != "" {
		methods = append(methods, "nats.token")
	}
	if c.NKey != "" {
		methods = append(methods, "nats.nkey")
	}
	if len(methods) > 1 {
		errs = append(errs, fmt.Errorf("nats: choose one way to authenticate, not %s", strings.Join(methods, " and ")))
	}
	if c.Password != "" && c.User == "" {
		errs = append(errs, errors.New("nats.user: must be set with nats.password"))
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		errs = append(errs, errors.New("nats.tls.cert and nats.tls.key: set both or neither"))
	}
	if c.URL == "" {
		if len(methods) > 0 || c.TLS != (TLSConfig{}) {
			errs = append(errs, fmt.Errorf("nats.url: empty (embedded server, no auth, no TLS) but %s is set", strings.Join(append(methods, tlsKeys(c.TLS)...), ", ")))
		}
		if err := c.Embedded.Validate(); err != nil {
			errs = append(errs, err)
		}
	} else {
		for u := range strings.SplitSeq(c.URL, ",") {
			if _, err := url.Parse(strings.TrimSpace(u)); err != nil {
				errs = append(errs, fmt.Errorf("nats.url: %q is not a URL", RedactURL(u)))
			}
		}
	}
	return errors.Join(errs...)
}

func tlsKeys(t TLSConfig) []string {
	var k []string
	if t.CA != "" {
		k = append(k, "nats.tls.ca")
	}
	if t.Cert != "" {
		k = append(k, "nats.tls.cert")
	}
	if t.Key != "" {
		k = append(k, "nats.tls.key")
	}
	return k
}

// AuthMethod names the configured authentication without its secret.
func (c NATSConfig) AuthMethod() string {
	switch {
	case c.Creds != "":
		return "creds"
	case c.User != "":
		return "user"
	case c.Token != "":
		return "token"
	case c.NKey != "":
		return "nkey"
	}
	return "none"
}

// RedactURL removes user information (user:password@, token@) from every
// URL of a comma-separated list, for logs.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if at := strings.LastIndex(p, "@"); at >= 0 {
			scheme := ""
			if k := strings.Index(p, "://"); k >= 0 && k < at {
				scheme = p[:k+3]
			}
			p = scheme + "[redacted]@" + p[at+1:]
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// Connect dials the server or cluster of c.URL (which must be set) as a
// client named name, with c's authentication and TLS: the connection of
// the commands that talk to a running NATS (scorer ingest, sink parquet,
// bench, result). It reconnects for ever, logging the loss at error level.
func (c NATSConfig) Connect(name string, log *slog.Logger) (*nats.Conn, error) {
	if c.URL == "" {
		return nil, errors.New("nats.url: empty")
	}
	opts, err := c.options(log)
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.Name(name), nats.Timeout(5*time.Second))
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", RedactURL(c.URL), err)
	}
	return nc, nil
}

// options builds the connection options for c. Losing the connection is
// logged at error level (readiness turns false until it is back), the
// reconnection at info level.
func (c NATSConfig) options(log *slog.Logger) ([]nats.Option, error) {
	// Async errors (a slow consumer, a permissions violation) can come once
	// per message: one line per interval, with the count of the others.
	asyncErrs := ratelog.NewLimiter(log, slog.LevelWarn, "NATS async error", asyncErrorEvery)
	opts := []nats.Option{
		nats.Name("loan-scorer"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // closed on purpose, or for good: the owner reports it
			}
			log.Error("lost the NATS connection: reconnecting (not ready meanwhile)", "error", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "url", RedactURL(nc.ConnectedUrl())) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			asyncErrs.Event("subject", ratelog.Clip(subject), "error", err)
		}),
	}
	switch {
	case c.Creds != "":
		opts = append(opts, nats.UserCredentials(c.Creds))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.NKey != "":
		o, err := nats.NkeyOptionFromSeed(c.NKey)
		if err != nil {
			return nil, fmt.Errorf("nats.nkey: read seed file: %w", err)
		}
		opts = append(opts, o)
	}
	if c.TLS.CA != "" {
		opts = append(opts, nats.RootCAs(c.TLS.CA))
	}
	if c.TLS.Cert != "" {
		opts = append(opts, nats.ClientCert(c.TLS.Cert, c.TLS.Key))
	}
	return opts, nil
}

// conn is the service's NATS connection as a component: Run returns an
// error when the connection closes for good on its own (credentials
// revoked, the server refusing it); Stop drains it (replies and publishes
// in flight go out, subscriptions end) and closes it when ctx ends first.
type conn struct {
	nc       *nats.Conn
	closed   chan struct{} // closed by the connection's ClosedHandler
	draining atomic.Bool
}

// dial connects to url with opts, watching for the connection's close.
func dial(url string, opts []nats.Option) (*conn, error) {
	c := &conn{closed: make(chan struct{})}
	opts = append(opts, nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", RedactURL(url), err)
	}
	c.nc = nc
	return c, nil
}

// Run returns nil once Stop has closed the connection, or an error when it
// closed without Stop.
func (c *conn) Run(ctx context.Context) error {
	select {
	case <-c.closed:
	case <-ctx.Done():
		return nil
	}
	if c.draining.Load() {
		return nil
	}
	if err := c.nc.LastError(); err != nil {
		return fmt.Errorf("%w: %w", ErrConnectionClosed, err)
	}
	return ErrConnectionClosed
}

// Stop drains the connection and waits until it is closed, closing it at
// once when ctx ends first.
func (c *conn) Stop(ctx context.Context) error {
	c.draining.Store(true)
	if err := c.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		c.nc.Close()
		return fmt.Errorf("drain NATS connection: %w", err)
	}
	select {
	case <-c.closed:
		return nil
	case <-ctx.Done():
		c.nc.Close()
		return fmt.Errorf("drain NATS connection: %w", ctx.Err())
	}
}

// asyncErrorEvery is how often NATS async errors are logged at most.
const asyncErrorEvery = 10 * time.Second
