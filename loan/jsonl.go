package loan

import (
	"bufio"
	"fmt"
	"io"
)

// JSONLines writes applications as JSON lines: one object per line, the
// fields in the seed's order, missing numbers as null.
type JSONLines struct {
	w      *bufio.Writer
	labels bool
	buf    []byte
}

// NewJSONLines returns a writer to w. With labels, every line also carries
// "default" and "default_proba_true". Close flushes; it does not close w.
func NewJSONLines(w io.Writer, labels bool) *JSONLines {
	return &JSONLines{w: bufio.NewWriterSize(w, 64<<10), labels: labels}
}

// Write writes one application (and its label when the writer has labels).
func (j *JSONLines) Write(l *Labeled) error {
	if j.labels {
		j.buf = l.AppendJSON(j.buf[:0])
	} else {
		j.buf = l.Application.AppendJSON(j.buf[:0])
	}
	j.buf = append(j.buf, '\n')
	if _, err := j.w.Write(j.buf); err != nil {
		return fmt.Errorf("write json line: %w", err)
	}
	return nil
}

// Close flushes buffered lines.
func (j *JSONLines) Close() error {
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("flush json lines: %w", err)
	}
	return nil
}
