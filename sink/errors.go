package sink

import "errors"

// Errors of the Parquet sink, matched with errors.Is.
var (
	// ErrUnknownFailpoint: SCORER_FAILPOINT names no crash point.
	ErrUnknownFailpoint = errors.New("unknown failpoint")
	// ErrSinkLocked: another sink holds the directory (one sink per directory).
	ErrSinkLocked = errors.New("directory is used by another Parquet sink")
	// ErrConsumerMismatch: the sink's durable consumer exists with settings
	// that break ordered, gap-free delivery (another consumer by that name).
	ErrConsumerMismatch = errors.New("durable consumer does not fit the Parquet sink")
	// ErrStreamBehind: the files claim sequences the results stream has not
	// reached (the stream was recreated); the sink refuses to skip results.
	ErrStreamBehind = errors.New("results stream is behind the files")
)
