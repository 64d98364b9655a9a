package natstest

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// readyTimeout bounds the wait for the server to accept clients.
const readyTimeout = 10 * time.Second

// Options returns the server options StartWith uses by default: loopback,
// a random port (-1), JetStream with its store in dir, no logging and no
// signal handlers.
func Options(dir string) *server.Options {
	return &server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
	}
}

// Start runs a JetStream server with Options(t.TempDir()) and returns it with
// a connection to it. Both are closed when the test ends.
func Start(t testing.TB) (*server.Server, *nats.Conn) {
	t.Helper()
	srv := StartWith(t, Options(t.TempDir()))
	return srv, Connect(t, srv)
}

// StartWith runs a server with opts (change Options' result for, e.g., a
// fixed port to restart on, or a shared StoreDir across restarts). The
// server is shut down when the test ends; shutting it down earlier is fine.
func StartWith(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("natstest: new server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		t.Fatalf("natstest: server not ready within %s", readyTimeout)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// Connect opens a connection to srv, closed when the test ends. Extra
// options are applied after the defaults (a name and no reconnect buffer).
func Connect(t testing.TB, srv *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	all := append([]nats.Option{nats.Name(t.Name())}, opts...)
	nc, err := nats.Connect(srv.ClientURL(), all...)
	if err != nil {
		t.Fatalf("natstest: connect to %s: %v", srv.ClientURL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Eventually polls cond every 10ms until it returns true or timeout passes,
// then fails the test with msg: the way to wait for something asynchronous
// without sleeping for a guessed duration.
func Eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("natstest: not within %s: %s", timeout, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// process the test starts and configures with it. It draws from 20000-32767,
// below Linux's ephemeral range (32768-60999 by default): a port picked by
// the kernel (":0") is in that range too, and an outgoing connection of a
// test running in parallel can take it before the process binds it.
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
	t.Fatalf("natstest: no free port below the ephemeral range in 100 tries: %v", last)
	return 0
}
