package worker

import (
	"errors"
	"fmt"

	"github.com/loan-scorer/loan-scorer/ingest"
)

var (
	// ErrOverloaded is returned by TrySubmit when the batcher's queue is full:
	// sync and HTTP callers answer 503 at once instead of timing out. It
	// wraps ingest.ErrOverloaded, what the front doors match.
	ErrOverloaded = fmt.Errorf("worker: batcher queue is full: %w", ingest.ErrOverloaded)
	// ErrClosed is returned by Submit and TrySubmit after Close, and set as
	// Job.Err on jobs still queued when Run's context ends (hard stop). It
	// wraps ingest.ErrStopping.
	ErrClosed = fmt.Errorf("worker: batcher is closed: %w", ingest.ErrStopping)
	// ErrBadJob is returned by Submit and TrySubmit for a job without a
	// model, rows or Done callback, or whose rows do not fit its model's schema.
	ErrBadJob = errors.New("worker: malformed job")
)
