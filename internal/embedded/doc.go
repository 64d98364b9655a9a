// Package embedded runs the NATS server with JetStream inside the scorer
// process, so that `scorer serve` works with no configuration.
//
// Start either joins a JetStream server that already answers on the
// configured address (a developer's `nats-server -js`, another scorer) or
// starts one in-process with NoSigs set (the scorer alone owns signals) and
// its store under an absolute directory. The embedded server is the last
// thing the scorer shuts down.
package embedded
