package ingest

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// FileFormat is the format of a file of applications, told by the file's
// extension (`scorer score`, `scorer ingest`).
type FileFormat string

// The file formats.
const (
	// Parquet: .parquet, .pq; columns matched to features by name.
	Parquet FileFormat = "parquet"
	// CSV: .csv, with a header naming the columns.
	CSV FileFormat = "csv"
	// JSONLines: .jsonl, .ndjson, .json; one application object per line
	// (read with Lines).
	JSONLines FileFormat = "jsonl"
)

// ErrFileFormat: a file name does not say a format of applications.
var ErrFileFormat = errors.New("unsupported file format")

// FileFormatOf tells a file's format from its extension: .parquet (.pq),
// .csv, .jsonl (.ndjson, .json).
func FileFormatOf(path string) (FileFormat, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet", ".pq":
		return Parquet, nil
	case ".csv":
		return CSV, nil
	case ".jsonl", ".ndjson", ".json":
		return JSONLines, nil
	}
	return "", fmt.Errorf("%s: %w (want .parquet, .csv, .jsonl, .ndjson or .json)", path, ErrFileFormat)
}
