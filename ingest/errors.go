package ingest

import (
	"strconv"
	"strings"

	"github.com/loan-scorer/loan-scorer/model"
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

// MaxErrorFields bounds InputError.Fields for an object with bad fields:
// at most this many fields are listed, problems with the model's features
// first (in the model's order), then unknown fields (schema.strict, in the
// order they appear); the message counts the rest. Whatever the input, an
// error body and the work to build it stay in proportion to this bound.
const MaxErrorFields = 64

// badFields collects the bad fields of one object as the decoder meets
// them, in memory bounded by the schema and MaxErrorFields, and in time
// linear in the object's fields. The zero value is empty; reset reuses it.
type badFields struct {
	problems []string // per feature index: "" or the feature's problem
	nProblem int      // features with a problem
	unknown  []string // the first MaxErrorFields distinct unknown names
	more     int      // unknown fields after those (not deduplicated)
}

func (b *badFields) reset() {
	if b.nProblem > 0 {
		clear(b.problems)
		b.nProblem = 0
	}
	b.unknown = b.unknown[:0]
	b.more = 0
}

func (b *badFields) empty() bool { return b.nProblem == 0 && len(b.unknown) == 0 && b.more == 0 }

// feature records problem for feature i of n: the first problem of a
// feature stands, except that FieldDuplicate replaces any.
func (b *badFields) feature(i, n int, problem string) {
	if b.problems == nil {
		b.problems = make([]string, n)
	}
	switch {
	case b.problems[i] == "":
		b.nProblem++
		b.problems[i] = problem
	case problem == FieldDuplicate:
		b.problems[i] = problem
	}
}

// unknownField records a field that is not a feature of the model. Only
// the first MaxErrorFields distinct names are kept (each compared with at
// most that many); later ones are counted.
func (b *badFields) unknownField(name []byte) {
	for _, u := range b.unknown {
		if u == string(name) {
			return
		}
	}
	if len(b.unknown) == MaxErrorFields {
		b.more++
		return
	}
	b.unknown = append(b.unknown, string(name))
}

// maxMessageFields is how many features the message names.
const maxMessageFields = 5

// fieldsError builds the InputError of an object with bad fields, in time
// linear in the schema and the fields recorded. Fields lists at most
// MaxErrorFields of them (features first, in schema order, then unknown
// names); the message names at most a few features with their problems
// (never input values, and unknown field names only by count, so it is
// safe in headers and logs) and says how many are not listed.
func fieldsError(features []model.Feature, b *badFields) *InputError {
	total := b.nProblem + len(b.unknown)
	fields := make(map[string]string, min(total, MaxErrorFields))
	var sb strings.Builder
	sb.Grow(64 + maxMessageFields*24)
	sb.WriteString("invalid fields: ")
	named := 0
	for i, problem := range b.problems {
		if problem == "" {
			continue
		}
		if len(fields) < MaxErrorFields {
			fields[features[i].Name] = problem
		}
		switch {
		case named < maxMessageFields:
			if named > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(features[i].Name)
			sb.WriteString(" (")
			sb.WriteString(problem)
			sb.WriteString(")")
		case named == maxMessageFields:
			sb.WriteString(", ...")
		}
		named++
	}
	for _, name := range b.unknown {
		if len(fields) == MaxErrorFields {
			break
		}
		fields[name] = FieldUnknown
	}
	if unknown := len(b.unknown) + b.more; unknown > 0 {
		if b.nProblem > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(strconv.Itoa(unknown))
		sb.WriteString(" unknown field(s)")
	}
	if unlisted := b.nProblem + len(b.unknown) + b.more - len(fields); unlisted > 0 {
		sb.WriteString("; ")
		sb.WriteString(strconv.Itoa(unlisted))
		sb.WriteString(" more not listed in fields")
	}
	return &InputError{Code: CodeInvalidInput, Message: sb.String(), Fields: fields}
}
