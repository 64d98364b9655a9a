package bulk

import "errors"

// Errors of the bulk scorer, matched with errors.Is. Column problems are
// ingest.ErrColumns (an *ingest.ColumnError naming the columns).
var (
	// ErrFormat: the file name does not say a format bulk reads or writes.
	ErrFormat = errors.New("unsupported file format")
	// ErrCorrupt: the input could not be decoded (corrupt or truncated).
	ErrCorrupt = errors.New("corrupt input")
	// ErrTooWide: the input has more columns than Options.MaxColumns.
	ErrTooWide = errors.New("input too wide")
	// ErrUnscorableRow: a row cannot be scored (a NaN or an infinity in a
	// float column) and the output has no error column to say so.
	ErrUnscorableRow = errors.New("row cannot be scored")
)
