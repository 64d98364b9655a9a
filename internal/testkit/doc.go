// Package testkit is the one test-support package of the repository: a
// real in-process NATS server with JetStream (nats-server's own test
// pattern), Eventually (polling with a deadline instead of sleeping), the
// repository root, the built binaries and a harness for their processes
// (`scorer serve` with a configuration, its readiness and metrics), a
// buffer safe for concurrent writes, whether the race detector is on, and
// the switch of the full suite. Sub-package arrowtest reads and writes
// Parquet with arrow-go, independently of parquet-go. Only tests import it.
package testkit
