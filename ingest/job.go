package ingest

import (
	"errors"
	"time"

	"github.com/loan-scorer/loan-scorer/model"
)

// Job is the decoded rows of one async message (one row) or of one sync or
// HTTP request (one or more rows), handed to the scorer, and where their
// values come back. The one who builds it owns it and may reuse it once
// Done has been called.
type Job struct {
	// Model is the model Rows were decoded against (Holder.Load() at decode
	// time); the job is scored by exactly this model, even across a reload.
	Model *model.Loaded
	// Rows are the decoded rows, at least one. The scorer copies them when
	// it takes the job into a batch; the submitter keeps ownership but must
	// not modify them before Done is called.
	Rows *model.Batch
	// Out is filled by the scorer with Rows.Rows × Model.Width() values,
	// row-major. Its capacity is reused when large enough.
	Out []float64
	// Err is set when scoring the job failed; Out is then not valid.
	Err error
	// Enqueued is set by the scorer when it takes the job.
	Enqueued time.Time
	// Done is called exactly once, from one of the scorer's goroutines,
	// after Out or Err is set. It must not block for long: it holds up the
	// other jobs of its batch.
	Done func(*Job)
}

// Scorer is what the sync and HTTP front doors hand their jobs to (the
// process's worker.Batcher).
type Scorer interface {
	// TrySubmit queues j for scoring without waiting. On a nil return
	// j.Done will be called exactly once; otherwise it will not be called,
	// and the error wraps ErrOverloaded (no room now: answer 503 at once
	// rather than time out) or ErrStopping (shutting down), or says that
	// the job is malformed.
	TrySubmit(j *Job) error
}

// Errors a Scorer answers TrySubmit with, matched with errors.Is.
var (
	// ErrOverloaded: the scorer's queue is full; the caller retries later.
	ErrOverloaded = errors.New("scorer is overloaded")
	// ErrStopping: the scorer is shutting down; the caller retries
	// elsewhere.
	ErrStopping = errors.New("scorer is stopping")
)
