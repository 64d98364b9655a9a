package ingest_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/loan"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/demo"
)

// field is one "name":value of an object, as written.
type field struct{ name, value string }

// splitObject cuts a flat JSON object (generated: no nesting, no commas or
// colons in strings) into its fields.
func splitObject(t *testing.T, line []byte) []field {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var fs []field
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		name := k.(string)
		fs = append(fs, field{strconv.Quote(name), string(m[name])})
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return fs
}

// TestOrderedFieldsAgreeWithOracle: generated applications in the model's
// field order, each changed in one or two random ways that take the
// decoder off its in-order fast path at a random field (another order, an
// unknown, repeated or missing field, white space, escapes, values that
// are not plain: exponents, long digit runs, strings for numbers, numbers
// and booleans for categories, bad values), decode to what the
// encoding/json oracle says, bit for bit, as do the unchanged ones.
func TestOrderedFieldsAgreeWithOracle(t *testing.T) {
	cb, err := catboost.Load(demo.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	s := cb.Schema()
	values := []string{
		`1e3`, `-2.5E-3`, `12345678901234567`, `0.1234567890123456`, `-0`, `-0.0`, `0.30000000000000004`,
		`"12"`, `"1.5e3"`, `" 1"`, `""`, `null`, `true`, `false`, `{}`, `[1,{"a":null}]`,
		`45`, `-45`, `9007199254740993`, `4.5`, `"a\u00e9\n"`, `"Zürich"`, `"\ud83d\ude00"`, `"tab\tx"`,
		`1e999`, `01`, `-`, `1.`, `"x`,
	}
	gen := loan.NewGenerator(3)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 20_000 {
		a := gen.Next()
		fs := splitObject(t, a.AppendJSON(nil))
		for range 1 + r.IntN(2) {
			at := r.IntN(len(fs))
			switch r.IntN(9) {
			case 0: // another order
				j := r.IntN(len(fs))
				fs[at], fs[j] = fs[j], fs[at]
			case 1: // an unknown field
				fs = slices.Insert(fs, at, field{`"extra"`, `{"Term":1}`})
			case 2: // a repeated field
				fs = slices.Insert(fs, at, fs[r.IntN(len(fs))])
			case 3: // a missing field
				fs = slices.Delete(fs, at, at+1)
			case 4: // white space
				fs[at].value = " " + fs[at].value + "\n"
			case 5: // an escaped name
				fs[at].name = `"\u00` + strconv.FormatInt(int64(fs[at].name[1]), 16) + fs[at].name[2:]
			default: // another value
				fs[at].value = values[r.IntN(len(values))]
			}
		}
		var obj []byte
		for j, f := range fs {
			obj = append(obj, ","[:min(j, 1)]...)
			obj = append(append(append(obj, f.name...), ':'), f.value...)
		}
		obj = append(append([]byte{'{'}, obj...), '}')
		if i%2 == 0 {
			obj = a.AppendJSON(nil) // unchanged
		}
		for _, strict := range []bool{false, true} {
			sc := ingest.SchemaConfig{BoolAs: []string{"no", "yes"}, Strict: strict}
			for _, d := range []*ingest.Decoder{ingest.NewDecoder(s, sc, ingest.DefaultLimits()), ingest.NewSharingDecoder(s, sc, ingest.DefaultLimits())} {
				b := model.NewBatch(s, 1)
				err := d.DecodeOne(obj, b)
				if !wellFormed(obj) {
					if err == nil {
						t.Fatalf("malformed %s decoded", obj)
					}
					continue
				}
				checkItem(t, s, sc, obj, err, b, 0)
			}
		}
	}
}

// TestOrderedFieldsNameLengths: names of every length from 0 to 20 bytes
// (fieldKey compares them by words of 4 and 8 bytes, overlapping) are
// found when they come as they are, and not when one byte differs.
func TestOrderedFieldsNameLengths(t *testing.T) {
	const n = 21
	s := &model.Schema{NumFloat: n}
	for i := range n {
		s.Features = append(s.Features, model.Feature{Name: strings.Repeat("x", i), Kind: model.Float, FlatIndex: i, Index: i})
		if i > 0 {
			s.Features[i].Name = s.Features[i].Name[:i-1] + string(rune('a'+i))
		}
	}
	sc := ingest.DefaultSchemaConfig()
	d := ingest.NewDecoder(s, sc, ingest.DefaultLimits())
	for changed := -1; changed < n; changed++ {
		ats := 1 // nothing changed
		if changed >= 0 {
			ats = len(s.Features[changed].Name)
		}
		for at := range ats {
			var obj []byte
			for i, f := range s.Features {
				name := []byte(f.Name)
				if i == changed {
					name[at]++ // another name: an unknown field, and feature i missing
				}
				obj = append(obj, ","[:min(i, 1)]...)
				obj = strconv.AppendFloat(append(append(strconv.AppendQuote(obj, string(name)), ':'), '-'), float64(i)+0.5, 'f', -1, 64)
			}
			obj = append(append([]byte{'{'}, obj...), '}')
			b := model.NewBatch(s, 1)
			checkItem(t, s, sc, obj, d.DecodeOne(obj, b), b, 0)
		}
	}
}

// TestOnlySharingDecodersSharePayloads decodes a line in the models'
// order (orderedFields' path) with both decoders, then overwrites the
// line: the copying decoder's categories, which the service's rows keep
// while NATS reuses the message, must not change; the sharing decoder's
// must, or scorer score pays for a copy it was built to avoid.
func TestOnlySharingDecodersSharePayloads(t *testing.T) {
	cb, err := catboost.Load(demo.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	s := cb.Schema()
	sc := ingest.DefaultSchemaConfig()
	a := loan.NewGenerator(5).Next()
	line := a.AppendJSON(nil)
	for _, tc := range []struct {
		name   string
		d      *ingest.Decoder
		shares bool
	}{
		{"NewDecoder", ingest.NewDecoder(s, sc, ingest.DefaultLimits()), false},
		{"NewSharingDecoder", ingest.NewSharingDecoder(s, sc, ingest.DefaultLimits()), true},
	} {
		payload := slices.Clone(line)
		b := model.NewBatch(s, 1)
		if err := tc.d.DecodeOne(payload, b); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		before := slices.Clone(b.Cats)
		strs := 0
		for i, c := range before {
			if c != "" && bytes.Contains(line, []byte(`"`+c+`"`)) {
				strs++
			}
			before[i] = strings.Clone(c)
		}
		if strs == 0 {
			t.Fatalf("%s: no category came from a JSON string in %s", tc.name, line)
		}
		for i := range payload {
			payload[i] = '#'
		}
		changed := !slices.Equal(b.Cats, before)
		if changed != tc.shares {
			t.Errorf("%s: overwriting the payload changed the categories: %v, want %v (%q, then %q)", tc.name, changed, tc.shares, before, b.Cats)
		}
	}
}
