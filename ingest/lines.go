package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// bom is the UTF-8 byte-order mark some editors and Windows tools write at
// the start of a text file.
var bom = []byte{0xEF, 0xBB, 0xBF}

// SkipBOM drops a UTF-8 byte-order mark at the current position of r (the
// start of a file): JSON and CSV readers would take it for part of the
// first value or column name.
func SkipBOM(r *bufio.Reader) error {
	head, err := r.Peek(len(bom))
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the start of the input: %w", err)
	}
	if bytes.Equal(head, bom) {
		_, _ = r.Discard(len(bom))
	}
	return nil
}

// Lines reads a JSON lines file: one value per line, blank lines skipped,
// spaces, tabs and line ends around a line dropped, a UTF-8 byte-order
// mark before the first line skipped. `scorer score`, `scorer ingest` and
// `scorer model predict` all read JSON lines with it.
type Lines struct {
	r     *bufio.Reader
	max   int
	n     int // lines read so far, blank ones included
	long  []byte
	first bool
}

// NewLines returns a reader of the JSON lines of r. A line longer than max
// bytes (0: no limit) is an error rather than read whole into memory.
func NewLines(r io.Reader, max int) *Lines {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<20)
	}
	return &Lines{r: br, max: max, first: true}
}

// ErrLineTooLong is returned by Lines.Next for a line over its limit.
var ErrLineTooLong = errors.New("line too long")

// Next returns the next non-blank line, valid until the next call, and its
// number (from 1, blank lines counted); io.EOF after the last one.
func (l *Lines) Next() (line []byte, n int, err error) {
	if l.first {
		l.first = false
		if err := SkipBOM(l.r); err != nil {
			return nil, 0, err
		}
	}
	for {
		line, err = l.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: collect it whole.
			l.long = append(l.long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				if l.max > 0 && len(l.long) > l.max {
					return nil, l.n + 1, fmt.Errorf("line %d: %w (over %d bytes)", l.n+1, ErrLineTooLong, l.max)
				}
				line, err = l.r.ReadSlice('\n')
				l.long = append(l.long, line...)
			}
			line = l.long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, l.n, fmt.Errorf("read line %d: %w", l.n+1, err)
		}
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return nil, l.n, io.EOF
		}
		l.n++
		if l.max > 0 && len(line) > l.max {
			return nil, l.n, fmt.Errorf("line %d: %w (over %d bytes)", l.n, ErrLineTooLong, l.max)
		}
		if trimmed := trimSpace(line); len(trimmed) > 0 {
			return trimmed, l.n, nil
		}
		if errors.Is(err, io.EOF) {
			return nil, l.n, io.EOF
		}
	}
}

// EachLine calls fn with each non-blank line of block, a run of whole
// lines of a JSON lines file, trimmed as Lines.Next trims them, and its
// number within block (from 1, blank lines counted); it stops at fn's
// first error. Readers that cut a file into blocks at line ends (`scorer
// score` on all cores) read the same lines as Lines.
func EachLine(block []byte, fn func(line []byte, n int) error) error {
	for n := 1; len(block) > 0; n++ {
		end := bytes.IndexByte(block, '\n')
		line := block
		if end >= 0 {
			line, block = block[:end], block[end+1:]
		} else {
			block = nil
		}
		if trimmed := trimSpace(line); len(trimmed) > 0 {
			if err := fn(trimmed, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// trimSpace drops JSON's white space (space, tab, CR, LF) around b.
func trimSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}
