package ingest

import (
	"slices"
	"strconv"
	"strings"
)

// Error codes carried by error results ("error":{"code":...}), dead letters
// (Error-Code header) and sync error replies.
const (
	// CodeInvalidInput: the payload is not a valid application for the model.
	CodeInvalidInput = "invalid_input"
	// CodePayloadTooLarge: the payload exceeds limits.max_payload (or the
	// HTTP body exceeds http.max_body).
	CodePayloadTooLarge = "payload_too_large"
	// CodeOverloaded: the batcher's queue is full; retry later.
	CodeOverloaded = "overloaded"
	// CodeInternal: scoring or answering failed on our side.
	CodeInternal = "internal"
	// CodeTimeout: the message could not be scored in time (max deliveries).
	CodeTimeout = "timeout"
	// CodeNotReady: the service is starting or shutting down (HTTP 503).
	CodeNotReady = "not_ready"
	// CodeUnstorable: the input was scored but its result can never be
	// stored (larger than the results stream or the server accept); the
	// input is dead-lettered with this code.
	CodeUnstorable = "unstorable"
)

// Per-field problems reported in InputError.Fields.
const (
	// FieldMissing: a feature of the model is absent from the object.
	FieldMissing = "missing"
	// FieldInvalidNumber: a numeric feature holds something other than a
	// JSON number, a string with a finite decimal literal, or null.
	FieldInvalidNumber = "invalid_number"
	// FieldInvalidCategory: a categorical feature holds something other than
	// a string, an integer literal within ±2^53 or a boolean.
	FieldInvalidCategory = "invalid_category"
	// FieldUnknown: a field that is not a feature of the model (strict mode).
	FieldUnknown = "unknown_field"
	// FieldDuplicate: a feature appears more than once in the object.
	FieldDuplicate = "duplicate"
)

// InputError is a permanent, per-message error: the input is bad and
// retrying it can never succeed. Match it with errors.As.
type InputError struct {
	// Code is CodeInvalidInput or CodePayloadTooLarge.
	Code string
	// Message explains the problem without echoing input values.
	Message string
	// Fields maps a field name to its problem (FieldMissing, ...); nil when
	// the problem is not about fields (malformed JSON, size).
	Fields map[string]string
}

// Error returns "<code>: <message>".
func (e *InputError) Error() string { return e.Code + ": " + e.Message }

// fieldsError builds the InputError of an object with bad fields. The
// message names at most a few schema features (never input values, and
// unknown field names only by count, so it is safe in headers and logs).
func fieldsError(fields map[string]string, known func(string) bool) *InputError {
	names := make([]string, 0, len(fields))
	unknown := 0
	for k := range fields {
		if known(k) {
			names = append(names, k)
		} else {
			unknown++
		}
	}
	slices.Sort(names)
	var sb strings.Builder
	sb.WriteString("invalid fields: ")
	const show = 5
	for i, k := range names {
		if i == show {
			sb.WriteString(", ...")
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(k)
		sb.WriteString(" (")
		sb.WriteString(fields[k])
		sb.WriteString(")")
	}
	if unknown > 0 {
		if len(names) > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(strconv.Itoa(unknown))
		sb.WriteString(" unknown field(s)")
	}
	return &InputError{Code: CodeInvalidInput, Message: sb.String(), Fields: fields}
}
