package ingest

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is the single-pass JSON scanner under Decoder: it reads the
// payload in place, validates as it goes (RFC 8259 grammar, UTF-8 in
// strings, escapes including surrogate pairs) and allocates only when a
// string holds escapes. Values the decoder does not want are skipped
// iteratively with an explicit bracket stack, so hostile nesting costs
// neither stack nor memory.

// eof is what peek and next return past the end (a byte JSON never holds
// outside strings, so it cannot be mistaken for structure).
const eof = 0

// state is one decoding pass over one payload.
type state struct {
	d       *Decoder
	data    []byte
	pos     int
	seen    [4]uint64 // features seen in the current object, when ≤ 256
	seenBig []uint64
	scratch []byte    // unescaped string, reused
	bad     badFields // the current object's bad fields, reused
}

func (d *Decoder) newState(payload []byte) *state {
	st := &state{d: d, data: payload}
	if n := len(d.schema.Features); n > 256 {
		st.seenBig = make([]uint64, (n+63)/64)
	}
	return st
}

func (st *state) resetSeen() {
	st.seen = [4]uint64{}
	clear(st.seenBig)
}

func (st *state) isSeen(i int) bool {
	if st.seenBig != nil {
		return st.seenBig[i>>6]&(1<<(i&63)) != 0
	}
	return st.seen[i>>6]&(1<<(i&63)) != 0
}

func (st *state) markSeen(i int) {
	if st.seenBig != nil {
		st.seenBig[i>>6] |= 1 << (i & 63)
		return
	}
	st.seen[i>>6] |= 1 << (i & 63)
}

// syntax returns the error of malformed JSON at the current position.
func (st *state) syntax(what string) *InputError {
	if st.pos >= len(st.data) {
		return &InputError{Code: CodeInvalidInput, Message: fmt.Sprintf("malformed JSON: %s, found the end of the payload", what)}
	}
	return &InputError{Code: CodeInvalidInput, Message: fmt.Sprintf("malformed JSON at byte %d: %s", st.pos, what)}
}

func (st *state) peek() byte {
	if st.pos < len(st.data) {
		return st.data[st.pos]
	}
	return eof
}

// next returns the current byte and advances (also past the end, so that a
// caller's st.pos-- for the error position stays consistent).
func (st *state) next() byte {
	c := st.peek()
	st.pos++
	return c
}

func (st *state) ws() {
	for st.pos < len(st.data) {
		switch st.data[st.pos] {
		case ' ', '\t', '\n', '\r':
			st.pos++
		default:
			return
		}
	}
}

// end checks that only whitespace follows.
func (st *state) end() error {
	st.ws()
	if st.pos != len(st.data) {
		return st.syntax("unexpected data after the JSON value")
	}
	return nil
}

func (st *state) literal(word string) error {
	if len(st.data)-st.pos < len(word) || string(st.data[st.pos:st.pos+len(word)]) != word {
		return st.syntax("invalid literal")
	}
	st.pos += len(word)
	return nil
}

// num scans a JSON number and returns its text and whether it is an integer
// literal (no fraction, no exponent).
func (st *state) num() (tok []byte, integer bool, err error) {
	start := st.pos
	integer = true
	if st.peek() == '-' {
		st.pos++
	}
	switch c := st.peek(); {
	case c == '0':
		st.pos++
	case c >= '1' && c <= '9':
		for c := st.peek(); c >= '0' && c <= '9'; c = st.peek() {
			st.pos++
		}
	default:
		return nil, false, st.syntax("invalid number")
	}
	if st.peek() == '.' {
		integer = false
		st.pos++
		if c := st.peek(); c < '0' || c > '9' {
			return nil, false, st.syntax("invalid number: no digits after '.'")
		}
		for c := st.peek(); c >= '0' && c <= '9'; c = st.peek() {
			st.pos++
		}
	}
	if c := st.peek(); c == 'e' || c == 'E' {
		integer = false
		st.pos++
		if c := st.peek(); c == '+' || c == '-' {
			st.pos++
		}
		if c := st.peek(); c < '0' || c > '9' {
			return nil, false, st.syntax("invalid number: no digits in the exponent")
		}
		for c := st.peek(); c >= '0' && c <= '9'; c = st.peek() {
			st.pos++
		}
	}
	return st.data[start:st.pos], integer, nil
}

// str scans a JSON string at the current '"' and returns its content: a
// slice of the payload when it holds no escapes, else the unescaped text in
// st.scratch (valid until the next call).
func (st *state) str() ([]byte, error) {
	st.pos++ // opening quote
	start := st.pos
	for {
		if st.pos >= len(st.data) {
			return nil, st.syntax("unterminated string")
		}
		c := st.data[st.pos]
		switch {
		case c == '"':
			s := st.data[start:st.pos]
			st.pos++
			return s, nil
		case c == '\\':
			st.scratch = append(st.scratch[:0], st.data[start:st.pos]...)
			return st.strEscaped()
		case c < 0x20:
			return nil, st.syntax("control character in a string")
		case c < utf8.RuneSelf:
			st.pos++
		default:
			r, size := utf8.DecodeRune(st.data[st.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, st.syntax("invalid UTF-8 in a string")
			}
			st.pos += size
		}
	}
}

// strEscaped continues str from the first backslash, unescaping into
// st.scratch.
func (st *state) strEscaped() ([]byte, error) {
	for {
		if st.pos >= len(st.data) {
			return nil, st.syntax("unterminated string")
		}
		c := st.data[st.pos]
		switch {
		case c == '"':
			st.pos++
			return st.scratch, nil
		case c == '\\':
			if err := st.escape(); err != nil {
				return nil, err
			}
		case c < 0x20:
			return nil, st.syntax("control character in a string")
		case c < utf8.RuneSelf:
			st.scratch = append(st.scratch, c)
			st.pos++
		default:
			r, size := utf8.DecodeRune(st.data[st.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, st.syntax("invalid UTF-8 in a string")
			}
			st.scratch = append(st.scratch, st.data[st.pos:st.pos+size]...)
			st.pos += size
		}
	}
}

// escape decodes one escape sequence at the current backslash. A \u
// escape of a high surrogate must be followed by one of a low surrogate;
// an unpaired surrogate is malformed (it has no UTF-8 encoding).
func (st *state) escape() error {
	st.pos++ // backslash
	c := st.next()
	switch c {
	case '"', '\\', '/':
		st.scratch = append(st.scratch, c)
	case 'b':
		st.scratch = append(st.scratch, '\b')
	case 'f':
		st.scratch = append(st.scratch, '\f')
	case 'n':
		st.scratch = append(st.scratch, '\n')
	case 'r':
		st.scratch = append(st.scratch, '\r')
	case 't':
		st.scratch = append(st.scratch, '\t')
	case 'u':
		r, ok := st.hex4()
		if !ok {
			return st.syntax("invalid \\u escape")
		}
		if utf16.IsSurrogate(r) {
			if r >= 0xDC00 || st.peek() != '\\' || st.pos+1 >= len(st.data) || st.data[st.pos+1] != 'u' {
				return st.syntax("unpaired surrogate in a \\u escape")
			}
			st.pos += 2
			lo, ok := st.hex4()
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return st.syntax("unpaired surrogate in a \\u escape")
			}
			r = utf16.DecodeRune(r, lo)
		}
		st.scratch = utf8.AppendRune(st.scratch, r)
	default:
		st.pos--
		return st.syntax("invalid escape in a string")
	}
	return nil
}

func (st *state) hex4() (rune, bool) {
	if len(st.data)-st.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range st.data[st.pos : st.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	st.pos += 4
	return r, true
}

// skipValue validates and skips one JSON value that starts at nesting depth
// depth (its own brackets count as that depth). It keeps an explicit stack:
// bit i of stack is 1 when level i is an object, 0 for an array.
func (st *state) skipValue(depth int) error {
	var stack uint64
	n := 0 // open levels inside the skipped value
	for {
		// A value is expected here.
		st.ws()
		switch c := st.peek(); {
		case c == '{' || c == '[':
			if depth+n > maxDepth {
				return st.syntax(fmt.Sprintf("nesting deeper than %d levels", maxDepth))
			}
			st.pos++
			stack <<= 1
			closer := byte(']')
			if c == '{' {
				stack |= 1
				closer = '}'
			}
			n++
			st.ws()
			if st.peek() == closer { // empty: the value ends here
				st.pos++
				stack >>= 1
				n--
				break
			}
			if c == '{' {
				if err := st.key(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if _, err := st.str(); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if _, _, err := st.num(); err != nil {
				return err
			}
		case c == 't':
			if err := st.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := st.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := st.literal("null"); err != nil {
				return err
			}
		default:
			return st.syntax("expected a JSON value")
		}
		// After a value: close levels until one continues with ','.
		for {
			if n == 0 {
				return nil
			}
			st.ws()
			c := st.next()
			inObject := stack&1 == 1
			if c == ',' {
				if inObject {
					st.ws()
					if err := st.key(); err != nil {
						return err
					}
				}
				break
			}
			if (inObject && c == '}') || (!inObject && c == ']') {
				stack >>= 1
				n--
				continue
			}
			st.pos--
			return st.syntax("expected ',' or a closing bracket")
		}
	}
}

// key scans a field name and the ':' after it, inside a skipped object.
func (st *state) key() error {
	if st.peek() != '"' {
		return st.syntax("expected a field name")
	}
	if _, err := st.str(); err != nil {
		return err
	}
	st.ws()
	if st.next() != ':' {
		st.pos--
		return st.syntax("expected ':' after a field name")
	}
	return nil
}
