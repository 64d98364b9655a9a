package ingest

import (
	"errors"
	"fmt"
)

// The JetStream side of ingest's errors (decoding errors are in errors.go).

// ErrSubjectCaptured is returned at start when a stream captures the sync
// subject: a request to it would be answered by JetStream's publish ack
// instead of the scorer.
var ErrSubjectCaptured = errors.New("subject is captured by a stream")

// ErrReplyRefused is wrapped by the error a disallowed Reply-To header
// produces.
var ErrReplyRefused = errors.New("reply subject refused")

// MismatchError reports a difference between the configuration and an
// existing stream or consumer that JetStream cannot change in place. The
// scorer never deletes or recreates a stream, so this stops start-up.
type MismatchError struct {
	// Kind is "stream" or "consumer".
	Kind string
	// Name is the stream or consumer name.
	Name string
	// Field names what differs, as the configuration key or JetStream field
	// ("retention", "storage", "ack_policy", ...).
	Field string
	// Have is the existing value, Want the configured one.
	Have, Want string
}

// Error names the object, the field and both values.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s %s: %s is %s in JetStream but the configuration wants %s, which JetStream cannot change in place (the scorer never deletes a stream: change the configuration, or migrate the %s yourself)",
		e.Kind, e.Name, e.Field, e.Have, e.Want, e.Kind)
}
