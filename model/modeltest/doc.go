// Package modeltest is the conformance suite of model.Model backends, in
// the manner of watermill's pubsub/tests: each backend's tests call
// TestModel for the models they load, so every backend is held to the same
// contract (schema, output widths, the output transforms, batching,
// concurrency, allocations). It is imported by tests only.
package modeltest
