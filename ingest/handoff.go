package ingest

import (
	"errors"
	"log/slog"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// This file is what ingest hands on to the layers after it, as contracts
// they implement: Jobs go to a Scorer (worker's batcher), answers are
// written by Bodies (sink's), and a FrontDoor bundles what the sync and
// HTTP doors need. Nothing here imports worker or sink.

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
	// Explain is how many reasons each row asks for (0: none).
	Explain int
	// Notes is set by the scorer with the scored values: one note per row
	// (its reasons when Explain > 0, its unseen categorical values), or
	// none at all when no row has anything to note. Its capacity is
	// reused.
	Notes []reason.Note
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

// NoteOf returns the note of row i of a job's notes, or nil when the
// scorer noted nothing.
func NoteOf(notes []reason.Note, i int) *reason.Note {
	if i < len(notes) {
		return &notes[i]
	}
	return nil
}

// Errors a Scorer answers TrySubmit with, matched with errors.Is.
var (
	// ErrOverloaded: the scorer's queue is full; the caller retries later.
	ErrOverloaded = errors.New("scorer is overloaded")
	// ErrStopping: the scorer is shutting down; the caller retries
	// elsewhere.
	ErrStopping = errors.New("scorer is stopping")
)

// FrontDoor is what the sync and HTTP front doors work with, wired by the
// service: each request is decoded against the current model, handed to
// the scorer, and answered with the bodies of package sink.
type FrontDoor struct {
	// Models holds the current model; a request is decoded and scored
	// against the one loaded when it arrives.
	Models *model.Holder
	// Decoders returns the decoder of a model (DecoderCache.Get).
	Decoders func(*model.Loaded) *Decoder
	// Scorer takes the requests' jobs (worker.Batcher).
	Scorer Scorer
	// Bodies writes the answers (sink.Bodies).
	Bodies Bodies
	// Metrics receives requests by outcome and their latency; nil records
	// into unregistered collectors.
	Metrics *metrics.Metrics
	// Log receives what the doors log (rate limited); nil logs nothing.
	Log *slog.Logger
}

// withDefaults fills Metrics and Log when unset.
func (d FrontDoor) withDefaults() FrontDoor {
	if d.Metrics == nil {
		d.Metrics = metrics.New(nil)
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return d
}

// Bodies writes the JSON bodies the front doors answer with (package
// sink's Bodies): the one encoding of results and errors on every path.
// Each method appends to dst and returns the extended slice, allocating
// nothing beyond its growth.
type Bodies interface {
	// AppendResult appends {"id":...,<value field>,"model":...} for one
	// scored row whose values (m.Width() of them) are out, with the
	// fields of note (reasons, unseen) when it has any; note may be nil.
	AppendResult(dst []byte, id string, m *model.Loaded, out []float64, note *reason.Note) []byte
	// AppendPrediction appends the seed's HTTP body of one scored row:
	// {<value field>} without id and model, and the fields of note when it
	// has any (nil keeps the seed's shape).
	AppendPrediction(dst []byte, m *model.Loaded, out []float64, note *reason.Note) []byte
	// AppendError appends {"id":...,"error":{"code","message","fields"}};
	// id is left out when empty, fields when empty.
	AppendError(dst []byte, id, code, message string, fields map[string]string) []byte
	// ValueField returns the name of the field that carries m's values
	// ("default_proba", "prediction", "probabilities") and whether it is
	// an array.
	ValueField(m *model.Loaded) (name string, array bool)
}
