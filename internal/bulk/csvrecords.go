package bulk

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unsafe"
)

// csvRecords reads the records of one block of whole CSV records, each
// with its bytes (what the output copies through). It reads a record as
// encoding/csv reads a valid one (empty lines skipped, a line's final \r
// dropped, "" in a quoted field a quote, \r\n in one a line end; the fuzz
// test FuzzCSVRecords holds the two to the same records), its fields
// sharing the block's bytes where they can. From the first record that is
// not plainly valid (a bare quote, text after a closing quote, a quote
// left open) on, encoding/csv reads the rest of the block, and refuses
// what it refuses with its own error.
type csvRecords struct {
	block []byte
	line  int // lines of the file before the block
	pos   int // the next record's start
	// From a record that needs it on: encoding/csv, reading the block from
	// base, and the offset of its next record from base.
	r    *csv.Reader
	base int
	off  int64
}

func (c *csvRecords) reset(block []byte, line int) {
	*c = csvRecords{block: block, line: line}
}

// next appends the next record's fields to fields and returns fields,
// and the record's bytes without its line end; io.EOF after the last
// record. Both are valid while the block is.
func (c *csvRecords) next(fields []string) ([]string, []byte, error) {
	if c.r != nil {
		return c.nextCSV(fields)
	}
	b := c.block
	p := c.pos
	for p < len(b) { // empty lines
		switch {
		case b[p] == '\n':
			p++
			continue
		case b[p] == '\r' && (p+1 == len(b) || b[p+1] == '\n'):
			p++
			continue
		}
		break
	}
	if p == len(b) {
		c.pos = p
		return fields, nil, io.EOF
	}
	start, n := p, len(fields)
	for {
		var field string
		var ok, last bool
		if p == len(b) { // a comma ended the file: an empty last field
			field, last, ok = "", true, true
		} else if b[p] == '"' {
			field, p, last, ok = quotedField(b, p)
		} else {
			field, p, last, ok = unquotedField(b, p)
		}
		if !ok {
			c.r = csv.NewReader(bytes.NewReader(b[start:]))
			c.r.FieldsPerRecord = -1
			c.r.ReuseRecord = true
			c.base, c.line = start, c.line+bytes.Count(b[:start], []byte{'\n'})
			return c.nextCSV(fields[:n])
		}
		fields = append(fields, field)
		if last {
			break
		}
	}
	c.pos = p
	return fields, trimLineEnd(b[start:p]), nil
}

// unquotedField reads the unquoted field at b[p:]: up to a comma or the
// line's end (its \r dropped). It returns the field, where the next one
// (or record) starts, whether it ended the record, and false for a bare
// quote.
func unquotedField(b []byte, p int) (string, int, bool, bool) {
	end := p
	for end < len(b) && b[end] != ',' && b[end] != '\n' {
		if b[end] == '"' {
			return "", 0, false, false
		}
		end++
	}
	if end < len(b) && b[end] == ',' {
		return str(b[p:end]), end + 1, false, true
	}
	next := min(end+1, len(b))
	if end > p && b[end-1] == '\r' {
		end--
	}
	return str(b[p:end]), next, true, true
}

// quotedField reads the quoted field at b[p:] (b[p] is its quote), as
// unquotedField does; false for text after its closing quote or no closing
// quote.
func quotedField(b []byte, p int) (string, int, bool, bool) {
	p++
	var buf []byte // nil while the field is b[start:p] as is
	start := p
	for {
		q := bytes.IndexByte(b[p:], '"')
		if q < 0 {
			return "", 0, false, false
		}
		if p+q+1 < len(b) && b[p+q+1] == '"' { // "" is a quote
			buf = append(append(buf, b[p:p+q]...), '"')
			p += q + 2
			continue
		}
		var field string
		if buf == nil && !bytes.Contains(b[start:p+q], []byte("\r\n")) {
			field = str(b[start : p+q])
		} else {
			buf = append(buf, b[p:p+q]...)
			field = string(bytes.ReplaceAll(buf, []byte("\r\n"), []byte("\n")))
		}
		p += q + 1
		switch {
		case p == len(b):
			return field, p, true, true
		case b[p] == ',':
			return field, p + 1, false, true
		case b[p] == '\n':
			return field, p + 1, true, true
		case b[p] == '\r' && (p+1 == len(b) || b[p+1] == '\n'):
			return field, min(p+2, len(b)), true, true
		}
		return "", 0, false, false
	}
}

// str is b as a string sharing its bytes.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// trimLineEnd drops a record's line end: \n, \r\n, or a final \r.
func trimLineEnd(raw []byte) []byte {
	raw = bytes.TrimSuffix(raw, []byte("\n"))
	return bytes.TrimSuffix(raw, []byte("\r"))
}

func (c *csvRecords) nextCSV(fields []string) ([]string, []byte, error) {
	rec, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return fields, nil, io.EOF
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) { // lines of the file, not of the block
			pe.StartLine += c.line
			pe.Line += c.line
		}
		return fields, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	end := c.r.InputOffset()
	raw := c.block[c.base+int(c.off) : c.base+int(end)]
	c.off = end
	for { // the empty lines encoding/csv skipped before the record
		switch {
		case bytes.HasPrefix(raw, []byte("\n")):
			raw = raw[1:]
			continue
		case bytes.HasPrefix(raw, []byte("\r\n")):
			raw = raw[2:]
			continue
		}
		break
	}
	return append(fields, rec...), trimLineEnd(raw), nil
}

// appendCSVField appends s as a CSV field, quoted as encoding/csv quotes
// it.
func appendCSVField(buf []byte, s string) []byte {
	if s == "" {
		return buf
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{s}) // into memory: cannot fail
	w.Flush()
	return append(buf, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}
