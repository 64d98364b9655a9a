package ingest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/model"
)

// The fuzz targets check the hand-written decoder against an independent
// oracle built on encoding/json: for every input, both must agree on
// whether the JSON is well-formed, which fields are bad and why, and the
// exact values of a decoded row. That rules out panics, silent defaults
// (a row decoded although a feature was absent or invalid) and values
// that differ from what the rules in DESIGN.md give.

var (
	decimalRE = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	integerRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
	maxSafe   = big.NewInt(1 << 53)
)

// oracleRow is what the rules say one JSON object decodes to.
type oracleRow struct {
	floats []float64
	cats   []string
	fields map[string]string // nil when the row is good
}

// oracleObject decodes raw, which encoding/json accepts, with the rules
// written out plainly. object is false when raw is not a JSON object.
func oracleObject(t *testing.T, s *model.Schema, sc ingest.SchemaConfig, raw []byte) (row oracleRow, object bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		t.Fatalf("oracle: json.Valid input fails Token: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return row, false
	}
	row.floats = make([]float64, s.NumFloat)
	row.cats = make([]string, s.NumCat)
	seen := map[string]bool{}
	var unknown []string
	bad := func(name, problem string) {
		if row.fields == nil {
			row.fields = map[string]string{}
		}
		if _, ok := row.fields[name]; !ok || problem == ingest.FieldDuplicate {
			row.fields[name] = problem
		}
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			t.Fatalf("oracle: key: %v", err)
		}
		key := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("oracle: value: %v", err)
		}
		f, ok := s.Lookup(key)
		switch {
		case !ok:
			if sc.Strict && !slices.Contains(unknown, key) {
				unknown = append(unknown, key)
			}
			continue
		case seen[key]:
			bad(key, ingest.FieldDuplicate)
			continue
		}
		seen[key] = true
		if f.Kind == model.Float {
			x, ok := oracleNumber(v)
			if !ok {
				bad(key, ingest.FieldInvalidNumber)
			}
			row.floats[f.Index] = x
		} else {
			c, ok := oracleCategory(sc, v)
			if !ok {
				bad(key, ingest.FieldInvalidCategory)
			}
			row.cats[f.Index] = c
		}
	}
	for _, f := range s.Features {
		if !seen[f.Name] {
			bad(f.Name, ingest.FieldMissing)
		}
	}
	// Features' problems are listed first, then unknown names in order of
	// appearance, ingest.MaxErrorFields in all.
	for _, name := range unknown {
		if len(row.fields) == ingest.MaxErrorFields {
			break
		}
		bad(name, ingest.FieldUnknown)
	}
	return row, true
}

func oracleNumber(v json.RawMessage) (float64, bool) {
	text := string(v)
	switch {
	case text == "null":
		return math.NaN(), true
	case strings.HasPrefix(text, `"`):
		var s string
		if json.Unmarshal(v, &s) != nil || !decimalRE.MatchString(s) {
			return 0, false
		}
		text = s
	case text[0] != '-' && (text[0] < '0' || text[0] > '9'):
		return 0, false
	}
	x, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, false
	}
	return x, true
}

func oracleCategory(sc ingest.SchemaConfig, v json.RawMessage) (string, bool) {
	text := string(v)
	switch {
	case text == "true":
		return sc.BoolAs[1], true
	case text == "false":
		return sc.BoolAs[0], true
	case strings.HasPrefix(text, `"`):
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case integerRE.MatchString(text):
		n, _ := new(big.Int).SetString(text, 10)
		if new(big.Int).Abs(n).Cmp(maxSafe) > 0 {
			return "", false
		}
		return n.String(), true // big.Int prints -0 as 0, like Python
	}
	return "", false
}

// wellFormed is what the decoder must accept as JSON: I-JSON (RFC 7493)
// text nested at most 64 levels deep. encoding/json's Valid lets invalid
// UTF-8 and unpaired surrogate escapes pass (it replaces them by U+FFFD),
// which would silently change a category, so both are checked here.
func wellFormed(raw []byte) bool {
	return json.Valid(raw) && utf8.Valid(raw) && depth(raw) <= 64 && !loneSurrogate(raw)
}

// loneSurrogate reports a \u escape of a surrogate that is not a high one
// directly followed by an escaped low one.
func loneSurrogate(raw []byte) bool {
	hex4 := func(i int) (uint64, bool) {
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 32)
		return v, err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		v, ok := hex4(i)
		if !ok {
			i++ // skip the escaped character (which may be a backslash)
			continue
		}
		switch {
		case v >= 0xDC00 && v <= 0xDFFF:
			return true
		case v >= 0xD800 && v <= 0xDBFF:
			lo, ok := hex4(i + 6)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

// depth returns the deepest bracket nesting of valid JSON.
func depth(raw []byte) int {
	d, deepest, inString := 0, 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}

// checkItem compares the decoder's verdict on one object with the oracle's.
func checkItem(t *testing.T, s *model.Schema, sc ingest.SchemaConfig, raw []byte, err error, b *model.Batch, row int) {
	want, object := oracleObject(t, s, sc, raw)
	var ie *ingest.InputError
	if !object {
		if !errors.As(err, &ie) || ie.Code != ingest.CodeInvalidInput || ie.Fields != nil {
			t.Fatalf("non-object %q: got %v, want invalid_input", raw, err)
		}
		return
	}
	if want.fields != nil {
		if !errors.As(err, &ie) || !reflect.DeepEqual(ie.Fields, want.fields) {
			t.Fatalf("%q: got %v (fields %v), want fields %v", raw, err, fieldsOf(err), want.fields)
		}
		return
	}
	if err != nil {
		t.Fatalf("%q: got %v, want a row", raw, err)
	}
	floats, cats := b.Row(row)
	for i, x := range want.floats {
		if math.Float64bits(floats[i]) != math.Float64bits(x) && !(math.IsNaN(floats[i]) && math.IsNaN(x)) {
			t.Fatalf("%q: float %d = %v, want %v", raw, i, floats[i], x)
		}
	}
	if !reflect.DeepEqual(cats, want.cats) {
		t.Fatalf("%q: categories %q, want %q", raw, cats, want.cats)
	}
}

func fieldsOf(err error) map[string]string {
	var ie *ingest.InputError
	if errors.As(err, &ie) {
		return ie.Fields
	}
	return nil
}

// fuzzSchema is small so that random inputs often hit real features: two
// numbers and two categories.
func fuzzSchema() *model.Schema {
	return &model.Schema{NumFloat: 2, NumCat: 2, Features: []model.Feature{
		{Name: "a", Kind: model.Float, FlatIndex: 0, Index: 0},
		{Name: "b", Kind: model.Categorical, FlatIndex: 1, Index: 0},
		{Name: "c", Kind: model.Float, FlatIndex: 2, Index: 1},
		{Name: "é", Kind: model.Categorical, FlatIndex: 3, Index: 1},
	}}
}

func addSeeds(f *testing.F) {
	for _, s := range []string{
		seedA, seedB,
		`{"a":1,"b":"x","c":null,"é":true}`,
		`{"a":"1.5e3","b":45,"c":-0,"\u00e9":false}`,
		`{"a":"NaN","b":null,"c":"0x1","é":4.5}`,
		`{"a":1,"a":2,"b":"x","c":1,"é":"y","z":{"q":[1,[2,{"r":null}]]}}`,
		`{"a":1e999,"b":9007199254740993,"c":" 1","é":"\ud83d\ude00"}`,
		`[{"a":1,"b":"x","c":2,"é":"y"},{"a":1},7]`,
		`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
		"{\"a\":1,\"b\":\"\xff\",\"c\":1,\"é\":\"y\"}",
		`{"a":1,"b":"x","c":1,"é":"y"} x`,
		``, `null`, `[]`, `{}`, `"x"`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
}

// FuzzDecodeLoan: the async path (DecodeOne) agrees with the oracle, and
// so does scorer score's JSON lines decoder (NewSharingDecoder).
func FuzzDecodeLoan(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, payload []byte, strict bool) {
		s := fuzzSchema()
		sc := ingest.SchemaConfig{BoolAs: []string{"no", "yes"}, Strict: strict}
		lim := ingest.Limits{MaxPayload: 1 << 20, MaxArray: 100}
		for _, d := range []*ingest.Decoder{ingest.NewDecoder(s, sc, lim), ingest.NewSharingDecoder(s, sc, lim)} {
			b := model.NewBatch(s, 1)
			err := d.DecodeOne(payload, b)
			if !wellFormed(payload) {
				var ie *ingest.InputError
				if !errors.As(err, &ie) || ie.Code != ingest.CodeInvalidInput || ie.Fields != nil {
					t.Fatalf("malformed %q: got %v, want invalid_input without fields", payload, err)
				}
				if b.Rows != 0 {
					t.Fatalf("malformed %q left a row", payload)
				}
				continue
			}
			if err == nil && b.Rows != 1 || err != nil && b.Rows != 0 {
				t.Fatalf("%q: err %v with %d rows", payload, err, b.Rows)
			}
			checkItem(t, s, sc, payload, err, b, 0)
		}
	})
}

// FuzzDecodeMany: the sync/HTTP path agrees with the oracle item by item,
// and good rows land in item order.
func FuzzDecodeMany(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, payload []byte, strict bool) {
		s := fuzzSchema()
		sc := ingest.SchemaConfig{BoolAs: []string{"False", "True"}, Strict: strict}
		d := ingest.NewDecoder(s, sc, ingest.Limits{MaxPayload: 1 << 20, MaxArray: 5})
		b := model.NewBatch(s, 1)
		itemErrs, isArray, err := d.DecodeMany(payload, b)
		if !wellFormed(payload) {
			if err == nil {
				t.Fatalf("malformed %q accepted", payload)
			}
			return
		}
		trimmed := bytes.TrimLeft(payload, " \t\r\n")
		if !isArray {
			if trimmed[0] == '[' {
				t.Fatalf("%q: array not reported as one", payload)
			}
			if err != nil {
				checkItem(t, s, sc, payload, err, b, 0)
				return
			}
			checkItem(t, s, sc, payload, itemErrs[0], b, 0)
			return
		}
		var items []json.RawMessage
		if e := json.Unmarshal(payload, &items); e != nil {
			t.Fatalf("oracle: %v", e)
		}
		if len(items) > 5 {
			if err == nil {
				t.Fatalf("%d items accepted with max_array 5", len(items))
			}
			return
		}
		if err != nil || len(itemErrs) != len(items) {
			t.Fatalf("%q: %d item errors for %d items, err %v", payload, len(itemErrs), len(items), err)
		}
		row := 0
		for i, raw := range items {
			checkItem(t, s, sc, raw, itemErrs[i], b, row)
			if itemErrs[i] == nil {
				row++
			}
		}
		if row != b.Rows {
			t.Fatalf("%q: %d good items, %d rows", payload, row, b.Rows)
		}
	})
}
