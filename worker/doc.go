// Package worker scores: it runs the one micro-batcher per process that
// the async path, the sync micro service and HTTP all feed (batcher.go),
// and the async path's delivery policy (async.go, hold.go): decode, batch,
// store the result, then ack, or hold and retry, nak, or term with a dead
// letter; and the max-deliveries reaper (reaper.go).
//
// An ingest.Job carries the rows of one message or request. Submit (async
// path, waits for room) or TrySubmit (sync and HTTP, fails at once with
// ErrOverloaded) queue it; the batcher gathers queued jobs into batches,
// scores each batch with one Model.Predict call on one of its scoring
// goroutines and calls every job's Done with its slice of the output. Each
// job is scored by the model.Loaded it was decoded against (model.Holder
// swaps models atomically on reload).
//
// Data flows ingest → worker → sink: worker takes deliveries and jobs from
// package ingest and stores results through package sink.
package worker
