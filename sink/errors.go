package sink

import (
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Errors of the Parquet sink, matched with errors.Is.
var (
	// ErrSinkLocked: another sink holds the directory (one sink per directory).
	ErrSinkLocked = errors.New("directory is used by another Parquet sink")
	// ErrConsumerMismatch: the sink's durable consumer exists with settings
	// that break ordered, gap-free delivery (another consumer by that name).
	ErrConsumerMismatch = errors.New("durable consumer does not fit the Parquet sink")
	// ErrStreamBehind: the files claim sequences the results stream has not
	// reached (the stream was recreated); the sink refuses to skip results.
	ErrStreamBehind = errors.New("results stream is behind the files")
)

// Errors of the publisher, matched with errors.Is.
var (
	// ErrUnstorable: JetStream refuses the message and will refuse it
	// however often it is sent again (larger than the stream's or the
	// server's limit, headers over 64 KiB, an invalid subject). Retrying is
	// pointless; the caller stores an error result or gives up instead.
	ErrUnstorable = errors.New("message can never be stored")
)

// Permanent reports whether a failed publish will fail again however often
// it is retried; the publisher wraps such failures in ErrUnstorable. Every
// other failure (no responders, timeouts, a full stream, no quorum) is
// transient: the results path may come back.
func Permanent(err error) bool {
	if errors.Is(err, ErrUnstorable) || errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) {
		return true
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode {
		case jetstream.JSErrCodeStreamMessageExceedsMaximum, jsErrCodeStreamHeaderExceedsMaximum:
			return true
		}
	}
	return false
}

// jsErrCodeStreamHeaderExceedsMaximum is JetStream's "header size exceeds
// maximum allowed of 64k" (nats-server's JSStreamHeaderExceedsMaximumErr),
// which nats.go has no constant for.
const jsErrCodeStreamHeaderExceedsMaximum jetstream.ErrorCode = 10097

// subjectTaken reports whether err is JetStream's answer to a publish with
// Nats-Expected-Last-Subject-Sequence: 0 on a subject that already holds a
// message (for results: the result of this id is stored already). The
// server gives the same answer when it could not read the subject's state
// (a store closing), so the publisher checks the subject before believing it.
func subjectTaken(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
