package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/loan-scorer/loan-scorer/model"
)

// Limits bound what one message or request may hold (keys limits.*).
type Limits struct {
	// MaxPayload is the largest application in bytes (default 65536): a
	// whole async message or sync/HTTP object, or one item of an array.
	// Larger ones are rejected as payload_too_large before decoding. The
	// total size of an array is bounded by the transport (NATS max_payload,
	// http.max_body).
	MaxPayload int `mapstructure:"max_payload"`
	// MaxArray is the most items an array (sync and HTTP) may hold
	// (default 1000).
	MaxArray int `mapstructure:"max_array"`
	// MaxID is the longest Nats-Msg-Id in bytes a message or request may
	// carry as its result's id (default 256; see CheckID).
	MaxID int `mapstructure:"max_id"`
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits { return Limits{MaxPayload: 64 << 10, MaxArray: 1000, MaxID: DefaultMaxID} }

// Validate reports an invalid field, named by its configuration key.
func (l Limits) Validate() error {
	switch {
	case l.MaxPayload < 2:
		return fmt.Errorf("limits.max_payload must be at least 2 bytes, got %d", l.MaxPayload)
	case l.MaxArray < 1:
		return fmt.Errorf("limits.max_array must be at least 1, got %d", l.MaxArray)
	case l.MaxID < 1 || l.MaxID > MaxMaxID:
		return fmt.Errorf("limits.max_id must be within 1..%d bytes, got %d", MaxMaxID, l.MaxID)
	}
	return nil
}

// maxDepth bounds JSON nesting (the top-level object or array counts 1).
// Values are skipped iteratively, so this bounds work, not stack.
const maxDepth = 64

// Decoder decodes loan applications (JSON objects) into rows of a
// model.Batch shaped for one model's schema. It is immutable and safe for
// concurrent use; build one per model (see DecoderCache).
//
// Mapping rules (DESIGN.md, "The loan application"):
//   - fields match features by the names in the schema; every feature must
//     be present; extra fields are ignored, or FieldUnknown when Strict;
//   - a numeric feature takes a JSON number or a string holding a finite
//     decimal literal ("12", "-1.5e3"); only null means missing (NaN, the
//     model's NaN rule applies); NaN, Inf, hex, empty strings, booleans,
//     objects and arrays are FieldInvalidNumber;
//   - a categorical feature takes a string as is, a JSON integer literal
//     within ±2^53 as its decimal text (45 → "45", -0 → "0"), or a boolean
//     as BoolAs; anything else is FieldInvalidCategory, null included:
//     CatBoost has no missing value for categories (its Python package
//     rejects None), so null cannot be given a meaning without guessing;
//   - a feature given twice is FieldDuplicate (duplicates of fields that
//     are not features are ignored like the fields themselves);
//   - malformed JSON (invalid UTF-8, bad escapes, trailing bytes, nesting
//     deeper than 64) rejects the whole payload.
type Decoder struct {
	schema *model.Schema
	index  map[string]int // feature name → position in schema.Features
	keys   []fieldKey     // per feature: what orderedFields looks for
	rules  valueRules
	strict bool
	lim    Limits
	// share lets a row's categories share the payload's bytes
	// (NewSharingDecoder).
	share bool
}

// NewDecoder returns a decoder for schema s. sc and lim must be valid (see
// their Validate methods).
func NewDecoder(s *model.Schema, sc SchemaConfig, lim Limits) *Decoder {
	d := &Decoder{schema: s, index: make(map[string]int, len(s.Features)), rules: newValueRules(sc), strict: sc.Strict, lim: lim}
	d.keys = make([]fieldKey, len(s.Features))
	for i := range s.Features {
		d.index[s.Features[i].Name] = i
		d.keys[i] = newFieldKey(&s.Features[i])
	}
	return d
}

// NewSharingDecoder is NewDecoder for a caller that is done with the rows
// it decodes before it changes or reuses the payload: the categories of a
// row may then share the payload's bytes instead of a copy of them, which
// saves an allocation a row (scorer score's JSON lines: about 5 % of the
// run's CPU). Such a row must not be kept, queued or handed on past that;
// the service's doors, whose rows wait in the batcher while NATS reuses
// the message, use NewDecoder.
func NewSharingDecoder(s *model.Schema, sc SchemaConfig, lim Limits) *Decoder {
	d := NewDecoder(s, sc, lim)
	d.share = true
	return d
}

// rawString returns s as a JSON string written without escapes, the form
// the scanner reads back as s, or nil when s holds a byte JSON must escape
// or is not UTF-8.
func rawString(s string) []byte {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r == '"' || r == '\\' || r < 0x20 }) {
		return nil
	}
	return []byte(`"` + s + `"`)
}

// Schema returns the schema the decoder maps onto.
func (d *Decoder) Schema() *model.Schema { return d.schema }

// DecodeOne decodes one JSON object (the async path) and appends its row to
// b, which must be empty or shaped for the decoder's schema. Bad input is an
// *InputError (an array is invalid_input); b is then unchanged.
func (d *Decoder) DecodeOne(payload []byte, b *model.Batch) error {
	if err := d.prepare(b); err != nil {
		return err
	}
	if len(payload) > d.lim.MaxPayload {
		return tooLarge(len(payload), d.lim.MaxPayload)
	}
	st := d.newState(payload)
	st.ws()
	switch st.peek() {
	case '{':
	case '[':
		return &InputError{Code: CodeInvalidInput, Message: "an array of applications is accepted only on the sync and HTTP paths; publish one object per message"}
	case eof:
		return &InputError{Code: CodeInvalidInput, Message: "empty payload"}
	default:
		return st.syntax("expected a JSON object")
	}
	rows := b.Rows
	bad, err := st.object(b, 1)
	if err == nil {
		err = st.end()
	}
	if err == nil && bad != nil {
		err = bad // malformed JSON takes precedence over bad fields
	}
	if err != nil {
		truncate(b, rows)
		return err
	}
	return nil
}

// DecodeMany decodes a JSON object or an array of objects (the sync and HTTP
// paths). Rows of good items are appended to b in order; itemErrs[i] is nil
// or the *InputError of item i (for an object, itemErrs has one element);
// isArray tells the caller to answer with an array. err is non-nil when the
// payload as a whole is bad (malformed JSON, more than MaxArray items, an
// object over MaxPayload); b is then unchanged. An array item larger than
// MaxPayload gets a payload_too_large item error.
func (d *Decoder) DecodeMany(payload []byte, b *model.Batch) (itemErrs []error, isArray bool, err error) {
	if err := d.prepare(b); err != nil {
		return nil, false, err
	}
	st := d.newState(payload)
	st.ws()
	switch st.peek() {
	case '{':
		if err := d.DecodeOne(payload, b); err != nil {
			var ie *InputError
			if errors.As(err, &ie) && ie.Fields != nil {
				return []error{err}, false, nil
			}
			return nil, false, err
		}
		return []error{nil}, false, nil
	case '[':
	case eof:
		return nil, false, &InputError{Code: CodeInvalidInput, Message: "empty payload"}
	default:
		return nil, false, st.syntax("expected a JSON object or an array of objects")
	}
	rows := b.Rows
	itemErrs, err = d.array(st, b)
	if err != nil {
		truncate(b, rows)
		return nil, true, err
	}
	return itemErrs, true, nil
}

func (d *Decoder) array(st *state, b *model.Batch) ([]error, error) {
	st.pos++ // '['
	st.ws()
	itemErrs := []error{}
	if st.peek() == ']' {
		st.pos++
		return itemErrs, st.end()
	}
	for {
		if len(itemErrs) == d.lim.MaxArray {
			return nil, &InputError{Code: CodeInvalidInput, Message: fmt.Sprintf("more than %d items in the array (limits.max_array)", d.lim.MaxArray)}
		}
		st.ws()
		start, rows := st.pos, b.Rows
		var itemErr error
		if st.peek() == '{' {
			bad, err := st.object(b, 2)
			switch {
			case err != nil:
				return nil, err
			case st.pos-start > d.lim.MaxPayload:
				truncate(b, rows)
				itemErr = tooLarge(st.pos-start, d.lim.MaxPayload)
			case bad != nil:
				truncate(b, rows) // the item fails, the request goes on
				itemErr = bad
			}
		} else {
			if err := st.skipValue(2); err != nil {
				return nil, err
			}
			itemErr = &InputError{Code: CodeInvalidInput, Message: "array item is not a JSON object"}
		}
		itemErrs = append(itemErrs, itemErr)
		st.ws()
		switch st.next() {
		case ',':
		case ']':
			return itemErrs, st.end()
		default:
			st.pos--
			return nil, st.syntax("expected ',' or ']' in the array")
		}
	}
}

func (d *Decoder) prepare(b *model.Batch) error {
	if b.Rows == 0 && len(b.Floats) == 0 && len(b.Cats) == 0 {
		b.NumFloat, b.NumCat = d.schema.NumFloat, d.schema.NumCat
	}
	if b.NumFloat != d.schema.NumFloat || b.NumCat != d.schema.NumCat {
		return fmt.Errorf("decode into a batch shaped for %d float and %d categorical features, schema has %d and %d",
			b.NumFloat, b.NumCat, d.schema.NumFloat, d.schema.NumCat)
	}
	return nil
}

// truncate drops the rows of b from row rows on.
func truncate(b *model.Batch, rows int) {
	if b.Rows == rows {
		return
	}
	clear(b.Cats[rows*b.NumCat:])
	b.Floats = b.Floats[:rows*b.NumFloat]
	b.Cats = b.Cats[:rows*b.NumCat]
	b.Rows = rows
}

func tooLarge(n, limit int) *InputError {
	return &InputError{Code: CodePayloadTooLarge, Message: fmt.Sprintf("application of %d bytes exceeds limits.max_payload (%d bytes)", n, limit)}
}

// object decodes one application at nesting depth depth, appending a row.
// bad reports well-formed JSON with bad fields, err malformed JSON; on
// either the caller truncates b.
func (st *state) object(b *model.Batch, depth int) (bad *InputError, err error) {
	d := st.d
	floats, cats := b.AppendRow()
	st.resetSeen()
	found := &st.bad
	found.reset()
	nf := len(d.schema.Features)

	st.pos++ // '{'
	taken, closed := st.orderedFields(floats, cats)
	if closed && taken == nf {
		return nil, nil // every feature, in order, each good
	}
	for i := range taken {
		st.markSeen(i)
	}
	prev := taken - 1
	if taken == 0 {
		st.ws()
		if st.peek() == '}' {
			st.pos++
			closed = true
		}
	}
	if !closed {
		for {
			st.ws()
			if st.peek() != '"' {
				return nil, st.syntax("expected a field name")
			}
			// Producers send fields in a fixed order, mostly the model's:
			// try the feature after the previous one, as its name comes
			// unescaped, before scanning and hashing the name.
			fi, known := prev+1, false
			var key []byte
			if fi < nf && d.keys[fi].text != nil && bytes.HasPrefix(st.data[st.pos:], d.keys[fi].text[:len(d.keys[fi].text)-1]) {
				st.pos += len(d.keys[fi].text) - 1
				known = true
			} else {
				if key, err = st.str(); err != nil {
					return nil, err
				}
				fi, known = d.index[string(key)]
			}
			st.ws()
			if st.next() != ':' {
				st.pos--
				return nil, st.syntax("expected ':' after a field name")
			}
			st.ws()
			if known {
				prev = fi
			}
			switch {
			case !known:
				if d.strict {
					found.unknownField(key)
				}
				err = st.skipValue(depth + 1)
			case st.isSeen(fi):
				found.feature(fi, nf, FieldDuplicate)
				err = st.skipValue(depth + 1)
			default:
				st.markSeen(fi)
				f := &d.schema.Features[fi]
				var problem string
				if f.Kind == model.Categorical {
					problem, err = st.category(&cats[f.Index], depth+1)
				} else {
					problem, err = st.number(&floats[f.Index], depth+1)
				}
				if problem != "" {
					found.feature(fi, nf, problem)
				}
			}
			if err != nil {
				return nil, err
			}
			st.ws()
			c := st.next()
			if c == '}' {
				break
			}
			if c != ',' {
				st.pos--
				return nil, st.syntax("expected ',' or '}' in an object")
			}
		}
	}
	for i := range nf {
		if !st.isSeen(i) {
			found.feature(i, nf, FieldMissing)
		}
	}
	if !found.empty() {
		return fieldsError(d.schema.Features, found), nil
	}
	return nil, nil
}

// DecodeValues decodes a JSON array holding one value per feature in the
// schema's flat order (`scorer model predict`'s array lines), with the
// value rules of objects, and appends its row to b. Bad input is an
// *InputError: a count that is not the feature count, or values that do
// not fit their feature (Fields names each; the message names the first,
// its position and what it was). b is then unchanged.
func (d *Decoder) DecodeValues(payload []byte, b *model.Batch) error {
	if err := d.prepare(b); err != nil {
		return err
	}
	if len(payload) > d.lim.MaxPayload {
		return tooLarge(len(payload), d.lim.MaxPayload)
	}
	st := d.newState(payload)
	st.ws()
	if st.peek() != '[' {
		return st.syntax("expected a JSON array of values")
	}
	rows := b.Rows
	bad, err := st.values(b)
	if err == nil {
		err = st.end()
	}
	if err == nil && bad != nil {
		err = bad
	}
	if err != nil {
		truncate(b, rows)
		return err
	}
	return nil
}

// values decodes the array of values at st.pos into a new row of b. bad
// reports well-formed JSON that does not fit the schema, err malformed JSON.
func (st *state) values(b *model.Batch) (bad *InputError, err error) {
	features := st.d.schema.Features
	floats, cats := b.AppendRow()
	var fields map[string]string
	first := ""
	n := 0
	st.pos++ // '['
	st.ws()
	if st.peek() == ']' {
		st.pos++
	} else {
		for {
			st.ws()
			if n < len(features) {
				f := &features[n]
				got := valueKind(st.peek())
				var problem string
				if f.Kind == model.Categorical {
					problem, err = st.category(&cats[f.Index], 2)
				} else {
					problem, err = st.number(&floats[f.Index], 2)
				}
				if err != nil {
					return nil, err
				}
				if problem != "" {
					if fields == nil {
						fields = map[string]string{}
						first = fmt.Sprintf("feature %q (position %d): %s", f.Name, n, wanted(problem, got))
					}
					fields[f.Name] = problem
				}
			} else if err := st.skipValue(2); err != nil {
				return nil, err
			}
			n++
			st.ws()
			c := st.next()
			if c == ']' {
				break
			}
			if c != ',' {
				st.pos--
				return nil, st.syntax("expected ',' or ']' in the array")
			}
		}
	}
	switch {
	case n != len(features):
		return &InputError{Code: CodeInvalidInput, Message: fmt.Sprintf("array of %d values, the model has %d features", n, len(features))}, nil
	case len(fields) > 1:
		first += fmt.Sprintf("; %d more values do not fit their features", len(fields)-1)
		fallthrough
	case len(fields) == 1:
		return &InputError{Code: CodeInvalidInput, Message: first, Fields: fields}, nil
	}
	return nil, nil
}

// valueKind names the kind of JSON value that starts with c.
func valueKind(c byte) string {
	switch c {
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a number"
}

// wanted says what a feature with the given problem wanted and what it got.
func wanted(problem, got string) string {
	if problem == FieldInvalidCategory {
		if got == "a number" {
			got = "a number that is not an integer within ±2^53"
		}
		return "want a string, an integer or a boolean, got " + got
	}
	switch got {
	case "a string":
		got = "a string that is not a finite decimal number"
	case "a number":
		got = "a number out of range"
	}
	return "want a number, got " + got
}

// DecoderCache builds a Decoder per model once and keeps the one for the
// model seen last, so a reload costs one rebuild. Safe for concurrent use;
// its Get method is what NewSyncService and NewHTTPServer take as dec.
type DecoderCache struct {
	sc  SchemaConfig
	lim Limits
	cur atomic.Pointer[cachedDecoder]
}

type cachedDecoder struct {
	m *model.Loaded
	d *Decoder
}

// NewDecoderCache returns a cache building decoders with sc and lim.
func NewDecoderCache(sc SchemaConfig, lim Limits) *DecoderCache {
	return &DecoderCache{sc: sc, lim: lim}
}

// Get returns the decoder for m's schema.
func (c *DecoderCache) Get(m *model.Loaded) *Decoder {
	if e := c.cur.Load(); e != nil && e.m == m {
		return e.d
	}
	d := NewDecoder(m.Schema(), c.sc, c.lim)
	c.cur.Store(&cachedDecoder{m: m, d: d})
	return d
}
