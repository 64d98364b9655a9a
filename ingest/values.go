package ingest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file is the one implementation of DESIGN.md's value rules ("The
// loan application"). Every decoder of outside values calls it: the JSON
// scanner for objects (async, sync, HTTP, JSON lines) and for arrays of
// values (`scorer model predict`), the Parquet column mapping and the CSV
// cell mapping (table.go), so `scorer score`, `scorer ingest` and the
// service read the same value the same way.
//
// Numbers: a JSON number, or text (a JSON string, a CSV cell) holding a
// finite decimal literal; NaN, Inf, hex, spaces and empty text are
// invalid_number, and so is a NaN or an infinity in a typed float column
// (Parquet). Only null (JSON null, a Parquet null, an empty CSV cell) means
// missing.
//
// Categories: text as is; a JSON integer literal within ±2^53 as its
// decimal text (45 → "45", -0 → "0"), an integer column's value likewise;
// booleans as SchemaConfig.BoolAs: JSON true/false, Parquet booleans and,
// CSV having no types, a cell holding true or false in any case (what
// DuckDB, Spark and pandas write for a boolean column).

// SchemaConfig says how input values map onto model features (keys schema.*).
type SchemaConfig struct {
	// BoolAs holds the category strings for false and true, in that order
	// (default ["False", "True"], as pandas and pydantic stringify Python
	// booleans).
	BoolAs []string `mapstructure:"bool_as"`
	// Strict rejects fields that are not features of the model; by default
	// they are ignored.
	Strict bool `mapstructure:"strict"`
}

// DefaultSchemaConfig returns the documented defaults.
func DefaultSchemaConfig() SchemaConfig {
	return SchemaConfig{BoolAs: []string{"False", "True"}}
}

// Validate reports an invalid field, named by its configuration key.
func (c SchemaConfig) Validate() error {
	if len(c.BoolAs) != 2 {
		return fmt.Errorf("schema.bool_as must hold 2 strings (for false and true), got %d", len(c.BoolAs))
	}
	if c.BoolAs[0] == c.BoolAs[1] {
		return fmt.Errorf("schema.bool_as must hold two different strings, got %q twice", c.BoolAs[0])
	}
	return nil
}

// text is what a value's text comes as: bytes of a JSON payload, or a CSV
// cell.
type text interface{ ~string | ~[]byte }

// valueRules applies the value rules with one SchemaConfig. It is
// immutable once built and safe for concurrent use.
type valueRules struct {
	boolCats [2]string // the categories of false and true
	smallInt []string  // decimal text of 0..len-1, shared to avoid allocations
}

// newValueRules returns the rules for sc (the defaults where sc leaves
// BoolAs unset).
func newValueRules(sc SchemaConfig) valueRules {
	r := valueRules{boolCats: [2]string{"False", "True"}}
	if len(sc.BoolAs) == 2 {
		r.boolCats = [2]string{sc.BoolAs[0], sc.BoolAs[1]}
	}
	r.smallInt = make([]string, 1024)
	for i := range r.smallInt {
		r.smallInt[i] = strconv.Itoa(i)
	}
	return r
}

// numberText reads text that must hold a finite decimal literal (a JSON
// string given for a number, a CSV cell) into *dst; it returns "" or
// FieldInvalidNumber.
func numberText[T text](s T, dst *float64) string {
	if !isDecimal(s) {
		return FieldInvalidNumber
	}
	return parseFinite(s, dst)
}

// finite takes a value of a typed float column into *dst; a NaN or an
// infinity is FieldInvalidNumber, as it is in JSON.
func finite(v float64, dst *float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return FieldInvalidNumber
	}
	*dst = v
	return ""
}

// parseFinite parses a decimal literal (a JSON number token, or text
// isDecimal accepted) into *dst; one too large for a float64 is
// FieldInvalidNumber.
func parseFinite[T text](s T, dst *float64) string {
	if v, ok := smallInt(s); ok {
		*dst = v
		return ""
	}
	if v, ok := smallDecimal(s); ok {
		*dst = v
		return ""
	}
	v, err := strconv.ParseFloat(string(s), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return FieldInvalidNumber
	}
	*dst = v
	return ""
}

// smallInt converts an optionally signed run of at most 15 digits, which
// a float64 holds exactly, without strconv: most loan fields are integers.
func smallInt[T text](s T) (float64, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg || (len(s) > 0 && s[0] == '+') {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 15 {
		return 0, false
	}
	var n int64
	for i := range len(s) {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	v := float64(n)
	if neg {
		v = -v
	}
	return v, true
}

// pow10 holds the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// smallDecimal converts an optionally signed decimal fraction of at most
// 15 digits without an exponent ("336000.0", "-86.5691") without strconv:
// its digits and the power of ten are exact in a float64, so one division,
// correctly rounded, gives the correctly rounded value strconv.ParseFloat
// gives (the exact case of its own fast path).
func smallDecimal[T text](s T) (float64, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg || (len(s) > 0 && s[0] == '+') {
		s = s[1:]
	}
	var m int64
	digits, frac, dot := 0, 0, false
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			m = m*10 + int64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	v := float64(m) / pow10[frac]
	if neg {
		v = -v
	}
	return v, true
}

// isDecimal reports whether s is a decimal literal: an optional sign,
// digits with an optional fraction (or a fraction alone) and an optional
// exponent. No spaces, no hex, no "NaN"/"Inf", no underscores.
func isDecimal[T text](s T) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	intDigits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		intDigits++
	}
	fracDigits := 0
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			fracDigits++
		}
	}
	if intDigits+fracDigits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		expDigits := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			expDigits++
		}
		if expDigits == 0 {
			return false
		}
	}
	return i == len(s)
}

// maxSafeInt is 2^53: integers up to it are exact in a float64, so a JSON
// producer cannot have meant a different one.
const maxSafeInt = 1 << 53

// integerCategory returns the category of a JSON integer literal tok (as
// the scanner returns it: an optional '-' and digits): its decimal text,
// "0" for -0; beyond ±2^53 it is FieldInvalidCategory.
func integerCategory(tok []byte) (string, string) {
	digits := tok
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) > 16 {
		return "", FieldInvalidCategory
	}
	if n, _ := strconv.ParseUint(string(digits), 10, 64); n > maxSafeInt {
		return "", FieldInvalidCategory
	}
	if string(tok) == "-0" {
		tok = digits // Python's str(int("-0")) is "0"
	}
	return string(tok), ""
}

// intCategory returns the category of an integer column's value: its
// decimal text (exact whatever its size: a typed integer lost no digits).
func (r *valueRules) intCategory(n int64) string {
	if n >= 0 && n < int64(len(r.smallInt)) {
		return r.smallInt[n]
	}
	return strconv.FormatInt(n, 10)
}

// uintCategory is intCategory for an unsigned column.
func (r *valueRules) uintCategory(u uint64) string {
	if u > math.MaxInt64 {
		return strconv.FormatUint(u, 10)
	}
	return r.intCategory(int64(u))
}

// boolCategory returns the category of a boolean (SchemaConfig.BoolAs).
func (r *valueRules) boolCategory(b bool) string {
	if b {
		return r.boolCats[1]
	}
	return r.boolCats[0]
}

// cellCategory returns the category of a CSV cell: a cell holding true or
// false in any case is a boolean (BoolAs), any other cell is taken as is.
func (r *valueRules) cellCategory(cell string) string {
	switch {
	case len(cell) == 4 && strings.EqualFold(cell, "true"):
		return r.boolCats[1]
	case len(cell) == 5 && strings.EqualFold(cell, "false"):
		return r.boolCats[0]
	}
	return cell
}

// number reads the JSON value of a numeric feature into *dst. problem is
// set for a well-formed value that is not a number; err for malformed JSON.
func (st *state) number(dst *float64, depth int) (problem string, err error) {
	switch c := st.peek(); {
	case c == '"':
		s, err := st.str()
		if err != nil {
			return "", err
		}
		return numberText(s, dst), nil
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := st.num()
		if err != nil {
			return "", err
		}
		if v, ok := n.exact(); ok {
			*dst = v
			return "", nil
		}
		return parseFinite(n.text, dst), nil
	case c == 'n':
		if err := st.literal("null"); err != nil {
			return "", err
		}
		*dst = math.NaN()
		return "", nil
	}
	if err := st.skipValue(depth); err != nil {
		return "", err
	}
	return FieldInvalidNumber, nil
}

// category reads the JSON value of a categorical feature into *dst.
// problem is set for a well-formed value that is not a category (null
// included: CatBoost has no missing category); err for malformed JSON.
func (st *state) category(dst *string, depth int) (problem string, err error) {
	switch c := st.peek(); {
	case c == '"':
		s, err := st.str()
		if err != nil {
			return "", err
		}
		*dst = string(s)
		return "", nil
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := st.num()
		if err != nil {
			return "", err
		}
		if !n.integer {
			return FieldInvalidCategory, nil
		}
		*dst, problem = integerCategory(n.text)
		return problem, nil
	case c == 't':
		if err := st.literal("true"); err != nil {
			return "", err
		}
		*dst = st.d.rules.boolCategory(true)
		return "", nil
	case c == 'f':
		if err := st.literal("false"); err != nil {
			return "", err
		}
		*dst = st.d.rules.boolCategory(false)
		return "", nil
	}
	if err := st.skipValue(depth); err != nil {
		return "", err
	}
	return FieldInvalidCategory, nil
}
