package faulttest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// ServerConfig describes one nats-server process.
type ServerConfig struct {
	// Name is the server_name (unique in a cluster).
	Name string
	// Port is the client port on 127.0.0.1; 0 picks a free one.
	Port int
	// StoreDir is the JetStream file store; empty uses a new temp dir.
	StoreDir string
	// Cluster, when set, makes the server a member of a cluster.
	Cluster *ClusterConfig
	// Extra is appended verbatim to the configuration file (accounts,
	// authorization, tls blocks).
	Extra string
}

// ClusterConfig is a server's cluster block.
type ClusterConfig struct {
	Name   string
	Port   int
	Routes []int // route ports of every member (its own is skipped)
}

// Server is a running nats-server process; it keeps its ports and store
// so that Restart brings back the same server.
type Server struct {
	Config ServerConfig
	bin    string
	conf   string
	proc   *testkit.Proc
	t      testing.TB
}

// StartServer writes cfg's configuration and starts nats-server on it,
// waiting until it accepts clients.
func StartServer(t testing.TB, bin string, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "n1"
	}
	if cfg.Port == 0 {
		cfg.Port = testkit.FreePort(t)
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	dir := t.TempDir()
	s := &Server{Config: cfg, bin: bin, conf: filepath.Join(dir, cfg.Name+".conf"), t: t}
	if err := os.WriteFile(s.conf, []byte(s.render()), 0o600); err != nil {
		t.Fatalf("write %s: %v", s.conf, err)
	}
	s.start(t)
	return s
}

func (s *Server) render() string {
	c := s.Config
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %q\nlisten: \"127.0.0.1:%d\"\n", c.Name, c.Port)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n}\n", c.StoreDir)
	if c.Cluster != nil {
		fmt.Fprintf(&b, "cluster {\n  name: %q\n  listen: \"127.0.0.1:%d\"\n  routes: [\n", c.Cluster.Name, c.Cluster.Port)
		for _, p := range c.Cluster.Routes {
			if p != c.Cluster.Port {
				fmt.Fprintf(&b, "    \"nats-route://127.0.0.1:%d\"\n", p)
			}
		}
		b.WriteString("  ]\n}\n")
	}
	b.WriteString(c.Extra)
	return b.String()
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	s.proc = testkit.StartProc(t, "nats-server "+s.Config.Name, s.bin, []string{"-c", s.conf}, nil)
	addr := fmt.Sprintf("127.0.0.1:%d", s.Config.Port)
	testkit.Eventually(t, 30*time.Second, "nats-server "+s.Config.Name+" listening on "+addr, func() bool {
		if s.proc.Exited() {
			t.Fatalf("nats-server %s exited: %s", s.Config.Name, testkit.Tail(s.proc.Output(), 2048))
		}
		return strings.Contains(s.proc.Output(), "Server is ready")
	})
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Config.Port) }

// Proc returns the running process.
func (s *Server) Proc() *testkit.Proc { return s.proc }

// Stop shuts the server down with SIGTERM (a clean stop: the file store is
// flushed) and waits for it to exit.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.proc.Stop(t, syscall.SIGTERM, 30*time.Second)
}

// Restart starts the server again with the same configuration, ports and
// store after Stop or Kill.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if !s.proc.Exited() {
		t.Fatalf("restart %s: still running", s.Config.Name)
	}
	s.start(t)
}

// StartCluster starts n servers that route to each other, each with its
// own store, and waits until JetStream has a meta leader and every peer.
func StartCluster(t testing.TB, bin string, n int) []*Server {
	t.Helper()
	routes := make([]int, n)
	for i := range routes {
		routes[i] = testkit.FreePort(t)
	}
	servers := make([]*Server, n)
	for i := range servers {
		// nats-server waits for its routes without blocking "ready", so
		// the members can start one after another.
		servers[i] = StartServer(t, bin, ServerConfig{
			Name:    fmt.Sprintf("n%d", i+1),
			Cluster: &ClusterConfig{Name: "scorer-test", Port: routes[i], Routes: routes},
		})
	}
	js := ConnectJS(t, ClusterURL(servers))
	// A meta leader is not enough: until it knows every member as a
	// JetStream peer, a stream of n replicas fails with "no suitable
	// peers for placement" (seen on a loaded machine). A probe stream of
	// n replicas is created once it can be, and deleted.
	testkit.Eventually(t, 60*time.Second, fmt.Sprintf("a stream of %d replicas can be placed", n), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "CLUSTER_PROBE", Subjects: []string{"cluster.probe"}, Replicas: n})
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, "CLUSTER_PROBE"); err != nil {
		t.Fatalf("delete the probe stream: %v", err)
	}
	return servers
}

// ClusterURL joins the servers' URLs with commas, as nats.url takes them.
func ClusterURL(servers []*Server) string {
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// Connect opens a client connection that reconnects forever (the tests
// restart servers under it); it is closed when the test ends.
func Connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	all := append([]nats.Option{
		nats.Name("faulttest " + t.Name()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond),
		nats.Timeout(5 * time.Second),
	}, opts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// ConnectJS connects to url as Connect does and returns a JetStream context
// on that connection (its Conn() is the connection).
func ConnectJS(t testing.TB, url string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(Connect(t, url, opts...))
	if err != nil {
		t.Fatalf("jetstream on %s: %v", url, err)
	}
	return js
}
