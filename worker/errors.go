package worker

import "errors"

var (
	// ErrOverloaded is returned by TrySubmit when the batcher's queue is full:
	// sync and HTTP callers answer 503 at once instead of timing out.
	ErrOverloaded = errors.New("worker: batcher queue is full")
	// ErrClosed is returned by Submit and TrySubmit after Close, and set as
	// Job.Err on jobs still queued when Run's context ends (hard stop).
	ErrClosed = errors.New("worker: batcher is closed")
	// ErrBadJob is returned by Submit and TrySubmit for a job without a
	// model, rows or Done callback, or whose rows do not fit its model's schema.
	ErrBadJob = errors.New("worker: malformed job")
)
