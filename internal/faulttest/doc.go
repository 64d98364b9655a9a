// Package faulttest runs the scorer the way it runs in production, as real
// processes, and breaks things around it: it builds the scorer binary and
// nats-server (from the module's github.com/nats-io/nats-server/v2) once per
// test run, starts, signals and kill -9s processes, starts single servers
// and three-node JetStream clusters on free loopback ports, writes their
// configuration files, publishes applications with retries and counts the
// results the streams and Parquet files hold.
//
// The fault, security and container tests of issue 7 live beside it in
// *_test.go. They are bounded in time and use modest sizes by default; set
// FAULT_FULL=1 for the sizes docs/OPERATIONS.md reports (50,000
// applications, a 200,000-message backlog stalled for 60 s).
package faulttest
