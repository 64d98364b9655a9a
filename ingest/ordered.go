package ingest

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
	"unsafe"

	"github.com/loan-scorer/loan-scorer/model"
)

// This file is the object decoder's fast path. Producers write an
// application's fields in one fixed order, most often the model's (what
// the model was trained from), without white space, with plain values:
// `{"Term":240,"NoEmp":1,...,"City":"Huntsville",...}`. orderedFields
// reads such a run of fields with the position in a local variable and
// no per-field calls into the general scanner, and leaves everything
// else (white space, escapes, other orders, unknown or repeated fields,
// values that are not plain, bad values and malformed JSON) to object's
// general loop, which goes on from the first field it did not take. A
// field it takes is one the general loop would decode to the same value
// without a problem: the value rules are those of number and category
// (values.go); FuzzDecodeLoan and TestOrderedFieldsAgreeWithOracle check
// the two paths against encoding/json.

// orderedFields decodes, from st.pos (just after an object's '{'), the
// longest run of fields that are the schema's features 0, 1, 2, ... in
// that order, each `"name":value` followed by ',' or '}' with no white
// space, the name without escapes, the value plain:
//   - for a number feature, a number without exponent of at most 15
//     digits (exact without strconv: numToken.exact), or null;
//   - for a category, a string without escapes or control characters
//     (valid UTF-8), an integer literal or a boolean.
//
// It stores their values, and returns how many features it took and
// whether the last one ended the object ('}'). st.pos is then after the
// last field taken (after its ',' or '}'), or unchanged when none was.
//
// The categories it takes from strings share one string, allocated once
// for the object: the bytes from the first such string to the last (the
// row holds on to those few hundred bytes, the line's length at most); a
// sharing decoder (NewSharingDecoder) takes them from the payload itself.
func (st *state) orderedFields(floats []float64, cats []string) (taken int, closed bool) {
	keys := st.d.keys
	data, p := st.data, st.pos
	var spans [maxSpans]span
	nspans := 0
	for taken < len(keys) {
		k := &keys[taken]
		if !k.at(data, p) {
			break
		}
		q := p + len(k.text)
		if q >= len(data) {
			break
		}
		var ok, gathered bool
		switch {
		case k.number:
			q, ok = plainNumber(data, q, &floats[k.index])
		case data[q] == '"' && nspans < maxSpans:
			start := q + 1
			q, ok = plainString(data, q)
			spans[nspans] = span{index: k.index, start: start, end: q - 1}
			gathered = true
		default:
			q, ok = st.plainCategory(q, &cats[k.index])
		}
		if !ok || q >= len(data) || (data[q] != ',' && data[q] != '}') {
			break
		}
		if gathered {
			nspans++
		}
		p = q + 1
		taken++
		if data[q] == '}' {
			closed = true
			break
		}
	}
	if nspans > 0 {
		first, end := spans[0].start, spans[nspans-1].end
		var all string
		if st.d.share {
			all = unsafe.String(&data[first], end-first) // data[first] is inside the first string or its closing quote
		} else {
			all = string(data[first:end])
		}
		for _, s := range spans[:nspans] {
			cats[s.index] = all[s.start-first : s.end-first]
		}
	}
	st.pos = p
	return taken, closed
}

// fieldKey is a feature as orderedFields looks for it.
type fieldKey struct {
	// text is the feature's name as a JSON string without escapes, then
	// ':' (nil when the name needs escapes: see rawString).
	text []byte
	// When text is at most 16 bytes, h0 and h1 are its bytes as two
	// little-endian words, zero-padded, and m0 and m1 mask the bytes it
	// has: two loads, masks and compares test it where 16 bytes follow.
	// Otherwise (m0 is 0) at compares it byte by byte.
	h0, h1, m0, m1 uint64
	number         bool // a number feature, else a category
	index          int  // its index among the batch's floats or categories
}

func newFieldKey(f *model.Feature) fieldKey {
	k := fieldKey{number: f.Kind != model.Categorical, index: f.Index}
	if raw := rawString(f.Name); raw != nil {
		k.text = append(raw, ':')
		if len(k.text) <= 16 {
			var pad [16]byte
			copy(pad[:], k.text)
			k.h0, k.h1 = binary.LittleEndian.Uint64(pad[:]), binary.LittleEndian.Uint64(pad[8:])
			clear(pad[:])
			for i := range k.text {
				pad[i] = 0xff
			}
			k.m0, k.m1 = binary.LittleEndian.Uint64(pad[:]), binary.LittleEndian.Uint64(pad[8:])
		}
	}
	return k
}

// at reports whether data[p:] starts with k.text.
func (k *fieldKey) at(data []byte, p int) bool {
	if len(data)-p >= 16 && k.m0 != 0 {
		return binary.LittleEndian.Uint64(data[p:])&k.m0 == k.h0 && binary.LittleEndian.Uint64(data[p+8:])&k.m1 == k.h1
	}
	return k.atEnd(data, p)
}

// atEnd is at where fewer than 16 bytes follow, or for a long name.
func (k *fieldKey) atEnd(data []byte, p int) bool {
	n := len(k.text)
	return n > 0 && len(data)-p >= n && string(data[p:p+n]) == string(k.text)
}

// maxSpans bounds the string categories orderedFields gathers into one
// allocation; more are allocated one by one.
const maxSpans = 16

// span is where a category's string is in the payload.
type span struct{ index, start, end int }

// plainNumber reads a number feature's plain value at data[i:] into *dst
// (what number reads it as: numToken.exact's value, or NaN for null) and
// returns the index after it; ok is false for any other value. An
// exponent is left unread: it is not the ',' or '}' the caller wants next.
func plainNumber(data []byte, i int, dst *float64) (end int, ok bool) {
	j := i
	neg := j < len(data) && data[j] == '-'
	if neg {
		j++
	}
	var m uint64
	digits := 0
	if j < len(data) && data[j] == '0' {
		j++
		digits = 1
	} else {
		for ; j < len(data) && data[j]-'0' < 10; j++ {
			m = m*10 + uint64(data[j]-'0')
			digits++
		}
		if digits == 0 {
			if !neg && hasLiteral(data, i, "null") {
				*dst = math.NaN()
				return i + len("null"), true
			}
			return i, false
		}
	}
	frac := 0
	if j < len(data) && data[j] == '.' {
		j++
		for ; j < len(data) && data[j]-'0' < 10; j++ {
			m = m*10 + uint64(data[j]-'0')
			frac++
		}
		if frac == 0 {
			return i, false
		}
	}
	if digits+frac > 15 {
		return i, false
	}
	v := float64(m)
	if frac > 0 {
		v /= pow10[frac]
	}
	if neg {
		v = -v
	}
	*dst = v
	return j, true
}

// plainString scans the string at data[i] ('"') and returns the index
// after it; ok is false when it holds an escape, a control character or
// invalid UTF-8, or does not end.
func plainString(data []byte, i int) (end int, ok bool) {
	j := i + 1
	for {
		j = plainRun(data, j)
		if j >= len(data) || data[j] < utf8.RuneSelf {
			break
		}
		r, size := utf8.DecodeRune(data[j:])
		if r == utf8.RuneError && size == 1 {
			return i, false
		}
		j += size
	}
	if j >= len(data) || data[j] != '"' {
		return i, false
	}
	return j + 1, true
}

// plainCategory reads a category's plain value at st.data[i:] into *dst
// (what category reads it as) and returns the index after it; ok is false
// for any other value.
func (st *state) plainCategory(i int, dst *string) (end int, ok bool) {
	data := st.data
	switch c := data[i]; {
	case c == '"':
		end, ok := plainString(data, i)
		if ok {
			*dst = string(data[i+1 : end-1])
		}
		return end, ok
	case c == '-' || c-'0' < 10:
		n, end, problem := scanNumber(data, i)
		if problem != "" || !n.integer {
			return i, false
		}
		v, bad := integerCategory(n.text)
		if bad != "" {
			return i, false
		}
		*dst = v
		return end, true
	case hasLiteral(data, i, "true"):
		*dst = st.d.rules.boolCategory(true)
		return i + len("true"), true
	case hasLiteral(data, i, "false"):
		*dst = st.d.rules.boolCategory(false)
		return i + len("false"), true
	}
	return i, false
}

// hasLiteral reports whether data[i:] starts with lit.
func hasLiteral(data []byte, i int, lit string) bool {
	return len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit
}
