package catboost

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsupported marks a well-formed model that uses something this package
// does not evaluate: text, embedding or estimated features, model parts other
// than the static CTR provider, or unknown CTR types.
var ErrUnsupported = errors.New("unsupported model content")

// ErrTruncated marks a model file that ends before the data it declares:
// a size, offset or count that points past the end of the input.
var ErrTruncated = errors.New("truncated model file")

// ErrInvalid marks a decoded model whose content is inconsistent (an index
// out of range, unsorted borders, a wrong leaf count...). Every
// *ValidationError wraps it.
var ErrInvalid = errors.New("invalid model")

// FormatError reports a model file that cannot be decoded: bad magic, a
// malformed flatbuffer or JSON document, a size past the end, an unsupported
// part. Match it with errors.As; Err, when set, is ErrTruncated,
// ErrUnsupported or an underlying error (JSON syntax, gzip).
type FormatError struct {
	// Format is the format being decoded.
	Format Format
	// Offset is the byte offset in the decoded input where the problem was
	// found (for gzipped JSON, in the decompressed text), or -1.
	Offset int64
	// Path names the field being decoded ("ModelTrees.FloatFeatures[3].Borders",
	// "oblivious_trees[12].splits[3]"), or "".
	Path string
	// Reason says what is wrong, in words.
	Reason string
	// Err is the sentinel or underlying error, or nil.
	Err error
}

// Error formats the error as "catboost <format> model: <path>: <reason> (at
// byte N): <err>", leaving out the parts that are unset.
func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("catboost ")
	b.WriteString(e.Format.String())
	b.WriteString(" model")
	if e.Path != "" {
		b.WriteString(": ")
		b.WriteString(e.Path)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " (at byte %d)", e.Offset)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Err.
func (e *FormatError) Unwrap() error { return e.Err }

// ValidationError reports a Definition that breaks one of the invariants the
// evaluator relies on. It unwraps to ErrInvalid.
type ValidationError struct {
	// Path names the offending part ("tree 12 split 3", "ctr 4 table").
	Path string
	// Reason says what is wrong.
	Reason string
}

// Error formats the error as "invalid model: <path>: <reason>".
func (e *ValidationError) Error() string {
	if e.Path == "" {
		return "invalid model: " + e.Reason
	}
	return "invalid model: " + e.Path + ": " + e.Reason
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalidf(path, format string, args ...any) *ValidationError {
	return &ValidationError{Path: path, Reason: fmt.Sprintf(format, args...)}
}
