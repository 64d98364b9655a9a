// Package loadtest measures a running scorer the way the seed's tools did,
// grown up (DESIGN.md "Measuring it"): sequential latency runs (median,
// p95, p99, max), Locust-style load runs (users spawned at a rate, each at
// a fixed request rate or as fast as possible, per-second rps, latency
// percentiles and failures, a ramp to the breaking point), and async runs
// that publish to loans.score and wait for every result.
//
// Targets are the three ways into the scorer: a NATS request to the sync
// micro service, an HTTP POST /predict, and a JetStream publish followed
// by the result on the results subject. Request bodies are generated loan
// applications (package loan) or the seed's two examples.
//
// Latencies of load runs go into Histogram, a log-bucketed histogram of
// bounded size (see its doc for the precision); a run keeps one row of
// statistics per second, written as CSV (WriteCSV) and as a self-contained
// HTML report with inline SVG charts (WriteHTML).
package loadtest
