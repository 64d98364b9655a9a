// Package natstest runs a real nats-server with JetStream inside the test
// process, as nats-server's own tests do: a random port, a store in
// t.TempDir(), ready before the test continues, shut down by t.Cleanup.
//
// Typical use:
//
//	srv, nc := natstest.Start(t)      // server and a connection to it
//	nc2 := natstest.Connect(t, srv)   // more connections, closed at cleanup
//	url := srv.ClientURL()            // for code that dials itself
package natstest
