// Package worker turns decoded rows into predictions: it runs the one
// micro-batcher per process that the async consumer, the sync micro service
// and HTTP all feed. Each job is scored by the model.Loaded it was decoded
// against (model.Holder swaps models atomically on reload).
//
// A Job carries the rows of one message or request. Submit (async path,
// waits for room) or TrySubmit (sync and HTTP, fails at once with
// ErrOverloaded) queue it; the batcher gathers queued jobs into batches,
// scores each batch with one Model.Predict call on one of its scoring
// goroutines and calls every job's Done with its slice of the output.
package worker
