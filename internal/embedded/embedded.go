package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/ratelog"
)

// Config configures the embedded server (configuration keys nats.embedded.*).
type Config struct {
	// Host is the interface the server listens on.
	Host string `mapstructure:"host"`
	// Port is the client port; -1 picks a free one (tests).
	Port int `mapstructure:"port"`
	// StoreDir is the JetStream store; relative paths are resolved against
	// the working directory at start.
	StoreDir string `mapstructure:"store_dir"`
	// SyncAlways fsyncs every JetStream write (durable against machine
	// crashes, slower).
	SyncAlways bool `mapstructure:"sync_always"`
}

// DefaultConfig returns 127.0.0.1:4222 with the store under data/.
func DefaultConfig() Config {
	return Config{Host: "127.0.0.1", Port: 4222, StoreDir: "data"}
}

// Validate reports a configuration the server cannot start with.
func (c Config) Validate() error {
	if c.Host == "" {
		return errors.New("nats.embedded.host: must not be empty")
	}
	if c.Port < -1 || c.Port > 65535 {
		return fmt.Errorf("nats.embedded.port: %d is not a port (-1 picks a free one)", c.Port)
	}
	if c.StoreDir == "" {
		return errors.New("nats.embedded.store_dir: must not be empty")
	}
	return nil
}

// ClientURL is the URL a client on this machine reaches the server at:
// nats://host:port, with 127.0.0.1 for an unspecified host (0.0.0.0, ::).
// Commands that talk to a running scorer's NATS default to it.
func (c Config) ClientURL() string {
	host := c.Host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(c.Port))
}

// Server is a running embedded server, or a joined external one.
type Server struct {
	srv      *server.Server // nil when joined
	url      string
	joined   bool
	stop     sync.Once
	stopping chan struct{} // closed by Shutdown
}

// URL returns the client URL to connect to.
func (s *Server) URL() string { return s.url }

// Joined reports whether Start found a JetStream server already answering
// on the configured address and joined it instead of starting one.
func (s *Server) Joined() bool { return s.joined }

// NATS returns the in-process server, or nil when joined.
func (s *Server) NATS() *server.Server { return s.srv }

// Shutdown stops the embedded server and waits until it is down. It does
// nothing for a joined server.
func (s *Server) Shutdown() {
	s.stop.Do(func() { close(s.stopping) })
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// Run returns once the server is down: nil after Stop (or Shutdown), an
// error when it went down on its own. For a joined server it returns once
// Stop is called.
func (s *Server) Run(context.Context) error {
	if s.srv == nil {
		<-s.stopping
		return nil
	}
	s.srv.WaitForShutdown()
	select {
	case <-s.stopping:
		return nil
	default:
		return ErrDown
	}
}

// Stop shuts the server down (Shutdown); the service stops it last.
func (s *Server) Stop(context.Context) error {
	s.Shutdown()
	return nil
}

// Start joins a JetStream server already answering on cfg's address, or
// starts one in-process. It logs what it did, including the absolute store
// directory.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Port > 0 {
		url := "nats://" + net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
		if probeJetStream(ctx, url) {
			log.Info("joined the JetStream server already running", "url", url)
			return &Server{url: url, joined: true, stopping: make(chan struct{})}, nil
		}
	}
	if !isLoopback(cfg.Host) {
		log.Warn("UNAUTHENTICATED NATS ON THE NETWORK: the embedded server listens on a non-loopback address "+
			"with no authentication; anyone who can reach it can publish, read, purge and delete every stream "+
			"(applications, results, dead letters). Set nats.embedded.host to 127.0.0.1, or run NATS with "+
			"authentication and point nats.url at it", "host", cfg.Host, "port", cfg.Port)
	}
	if err := checkListen(cfg.Host, cfg.Port); err != nil {
		return nil, err
	}
	store, err := filepath.Abs(cfg.StoreDir)
	if err != nil {
		return nil, fmt.Errorf("resolve nats.embedded.store_dir %q: %w", cfg.StoreDir, err)
	}
	opts := &server.Options{
		ServerName: "scorer-embedded",
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   store,
		SyncAlways: cfg.SyncAlways,
		NoSigs:     true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("create embedded nats-server: %w", err)
	}
	srv.SetLoggerV2(newServerLog(log.With("component", "nats-server"), serverLogEvery), false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("start embedded nats-server on %s:%d: %w", cfg.Host, cfg.Port, ErrNotReady)
	}
	url := srv.ClientURL()
	log.Info("started embedded nats-server with JetStream", "url", url, "store_dir", store, "sync_always", cfg.SyncAlways)
	return &Server{srv: srv, url: url, stopping: make(chan struct{})}, nil
}

// isLoopback reports whether host names only this machine: "localhost" or
// a loopback IP address. Everything else, the wildcard 0.0.0.0 and "::"
// included, reaches the network.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkListen tells at once whether the server could listen on host and
// port (-1: any free port), which nats-server itself reports only by never
// becoming ready.
func checkListen(host string, port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(max(port, 0))))
	if err != nil {
		return fmt.Errorf("nats.embedded.host %s, nats.embedded.port %d: cannot listen: %w", host, port, err)
	}
	return ln.Close()
}

// probeJetStream reports whether url answers quickly and has JetStream.
func probeJetStream(ctx context.Context, url string) bool {
	nc, err := nats.Connect(url, nats.Timeout(500*time.Millisecond), nats.MaxReconnects(0),
		nats.NoReconnect(), nats.Name("scorer-probe"))
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err == nil
}

// serverLogEvery is how often the embedded server's warnings and errors
// are logged at most, each kind on its own.
const serverLogEvery = 10 * time.Second

// serverLog adapts nats-server's logger to slog. Warnings and errors are
// rate-limited: a flood of bad clients makes the server log a line per
// connection (623,000 ERROR lines, 159 MB in 18 minutes, before), so at
// most one line of each level goes out per serverLogEvery, and a summary
// line counts the ones left out (ratelog.Limiter).
type serverLog struct {
	log        *slog.Logger
	warn, errs *ratelog.Limiter
}

func newServerLog(log *slog.Logger, every time.Duration) serverLog {
	return serverLog{log: log,
		warn: ratelog.NewLimiter(log, slog.LevelWarn, "nats-server warning", every),
		errs: ratelog.NewLimiter(log, slog.LevelError, "nats-server error", every)}
}

func (l serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLog) Warnf(format string, v ...any) {
	l.warn.Event("line", ratelog.ClipTo(fmt.Sprintf(format, v...), maxServerLine))
}
func (l serverLog) Fatalf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLog) Errorf(format string, v ...any) {
	l.errs.Event("line", ratelog.ClipTo(fmt.Sprintf(format, v...), maxServerLine))
}
func (l serverLog) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLog) Tracef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }

// maxServerLine bounds a server log line, which may quote a client's bytes.
const maxServerLine = 512
