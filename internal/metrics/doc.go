// Package metrics defines the scorer's Prometheus collectors in one place so
// every part of the service (consumer, batcher, sync service, HTTP) records
// into the same, documented series, and serves them on /metrics.
package metrics
