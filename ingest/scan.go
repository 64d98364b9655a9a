package ingest

import (
	"encoding/binary"
	"fmt"
	"math/bits"
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

// ws skips white space; JSON without any (what producers write) costs one
// test.
func (st *state) ws() {
	if st.pos < len(st.data) && st.data[st.pos] > ' ' {
		return
	}
	st.wsRun()
}

func (st *state) wsRun() {
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

// numToken is a JSON number as num scans it.
type numToken struct {
	text    []byte
	integer bool   // no fraction, no exponent
	neg     bool   // a leading '-'
	exp     bool   // an exponent
	digits  int    // digits before the exponent, leading zeros included
	frac    int    // of which after the '.'
	mant    uint64 // those digits as an integer (wrapped when digits > 19)
}

// exact returns the number's value when it is exact without strconv: at
// most 15 digits and no exponent. Its digits and the power of ten are then
// exact in a float64, so one division, correctly rounded, gives the
// correctly rounded value strconv.ParseFloat gives (the exact case of its
// own fast path; smallDecimal does the same for text).
func (n *numToken) exact() (float64, bool) {
	if n.exp || n.digits > 15 {
		return 0, false
	}
	v := float64(n.mant)
	if n.frac > 0 {
		v /= pow10[n.frac]
	}
	if n.neg {
		v = -v
	}
	return v, true
}

// num scans a JSON number, gathering its digits on the way.
func (st *state) num() (numToken, error) {
	n, end, problem := scanNumber(st.data, st.pos)
	st.pos = end
	if problem != "" {
		return n, st.syntax(problem)
	}
	return n, nil
}

// scanNumber scans the JSON number at d[i:] and returns it and the index
// after it, or the index of the first byte that does not fit the grammar
// with what is wrong there.
func scanNumber(d []byte, i int) (n numToken, end int, problem string) {
	start := i
	n.integer = true
	if i < len(d) && d[i] == '-' {
		n.neg = true
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
		n.digits = 1
	case i < len(d) && d[i]-'1' < 9:
		for ; i < len(d) && d[i]-'0' < 10; i++ {
			n.mant = n.mant*10 + uint64(d[i]-'0')
			n.digits++
		}
	default:
		return n, i, "invalid number"
	}
	if i < len(d) && d[i] == '.' {
		n.integer = false
		i++
		if i >= len(d) || d[i]-'0' >= 10 {
			return n, i, "invalid number: no digits after '.'"
		}
		for ; i < len(d) && d[i]-'0' < 10; i++ {
			n.mant = n.mant*10 + uint64(d[i]-'0')
			n.digits++
			n.frac++
		}
	}
	if i < len(d) && d[i]|0x20 == 'e' {
		n.integer, n.exp = false, true
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i]-'0' >= 10 {
			return n, i, "invalid number: no digits in the exponent"
		}
		for i < len(d) && d[i]-'0' < 10 {
			i++
		}
	}
	n.text = d[start:i]
	return n, i, ""
}

// str scans a JSON string at the current '"' and returns its content: a
// slice of the payload when it holds no escapes, else the unescaped text in
// st.scratch (valid until the next call).
func (st *state) str() ([]byte, error) {
	st.pos++ // opening quote
	start := st.pos
	for {
		st.pos = plainRun(st.data, st.pos)
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
		default:
			r, size := utf8.DecodeRune(st.data[st.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, st.syntax("invalid UTF-8 in a string")
			}
			st.pos += size
		}
	}
}

// Bytes of a word, for plainRun's SWAR tests.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainRun returns the index of the first byte at or after i that a string
// scanner must look at: '"', '\\', a control character or a byte of a
// multi-byte UTF-8 sequence (len(b) when there is none). It tests eight
// bytes at a time: for a word w, (w - ones*n) &^ w & highs is non-zero
// exactly when a byte of w is below n (n ≤ 0x80), and a byte equal to q is
// a zero byte of w ^ ones*q. A borrow can only set a high bit above a byte
// that tested true, so the lowest set bit marks the first such byte.
func plainRun(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		quote, slash := w^(ones*'"'), w^(ones*'\\')
		m := ((w-ones*0x20)&^w | (quote-ones)&^quote | (slash-ones)&^slash | w) & highs
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return i
		}
	}
	return i
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
			if _, err := st.num(); err != nil {
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
