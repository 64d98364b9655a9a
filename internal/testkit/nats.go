package testkit

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// natsReadyTimeout bounds the wait for an in-process server to accept
// clients.
const natsReadyTimeout = 10 * time.Second

// NATSOptions returns the server options StartNATS uses: loopback, a
// random port (-1), JetStream with its store in dir, no logging and no
// signal handlers.
func NATSOptions(dir string) *server.Options {
	return &server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
	}
}

// StartNATS runs a JetStream server with NATSOptions(t.TempDir()) and
// returns it with a connection to it. Both are closed when the test ends.
func StartNATS(t testing.TB) (*server.Server, *nats.Conn) {
	t.Helper()
	srv := StartNATSWith(t, NATSOptions(t.TempDir()))
	return srv, Connect(t, srv)
}

// StartNATSWith runs a server with opts (change NATSOptions' result for,
// e.g., a fixed port to restart on, or a store shared across restarts).
// The server is shut down when the test ends; shutting it down earlier is
// fine.
func StartNATSWith(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("testkit: new NATS server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(natsReadyTimeout) {
		srv.Shutdown()
		t.Fatalf("testkit: NATS server not ready within %s", natsReadyTimeout)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// Connect opens a connection to srv, closed when the test ends. Extra
// options are applied after the default (the test's name).
func Connect(t testing.TB, srv *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	all := append([]nats.Option{nats.Name(t.Name())}, opts...)
	nc, err := nats.Connect(srv.ClientURL(), all...)
	if err != nil {
		t.Fatalf("testkit: connect to %s: %v", srv.ClientURL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// process the test starts and configures with it. It draws from
// 20000-32767, below Linux's ephemeral range (32768-60999 by default): a
// port picked by the kernel (":0") is in that range too, and an outgoing
// connection of a test running in parallel can take it before the process
// binds it.
func FreePort(t testing.TB) int {
	t.Helper()
	var last error
	for range 100 {
		port := 20000 + rand.IntN(12768)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			last = err
			continue
		}
		ln.Close()
		return port
	}
	t.Fatalf("testkit: no free port below the ephemeral range in 100 tries: %v", last)
	return 0
}
