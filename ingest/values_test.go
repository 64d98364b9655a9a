package ingest

import (
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
)

// TestDecodeValuesFollowTheObjectRules: `scorer model predict` reads an
// array line of values with the rules of an object line, so a value is
// accepted, refused or mapped the same in both (before, its array lines
// had rules of their own: " 1" was a number there and invalid_number in
// an object).
func TestDecodeValuesFollowTheObjectRules(t *testing.T) {
	s := &model.Schema{Features: []model.Feature{
		{Name: "n", Kind: model.Float, FlatIndex: 0, Index: 0},
		{Name: "c", Kind: model.Categorical, FlatIndex: 1, Index: 0},
	}, NumFloat: 1, NumCat: 1}
	dec := NewDecoder(s, SchemaConfig{BoolAs: []string{"no", "yes"}}, DefaultLimits())
	numbers := []string{`1`, `-2.5e3`, `"1"`, `" 1"`, `"1 "`, `""`, `"0x10"`, `"NaN"`, `"Inf"`, `"1_000"`, `1e999`, `"1e999"`, `null`, `true`, `{}`, `[1]`}
	cats := []string{`"x"`, `""`, `45`, `-0`, `4.5`, `1e2`, `9007199254740992`, `9007199254740993`, `-9007199254740993`, `true`, `false`, `null`, `{}`}
	check := func(n, c string) {
		t.Helper()
		object := newBatch1(s)
		objErr := dec.DecodeOne([]byte(`{"n":`+n+`,"c":`+c+`}`), object)
		array := newBatch1(s)
		arrErr := dec.DecodeValues([]byte(`[`+n+`,`+c+`]`), array)
		var oi, ai *InputError
		errors.As(objErr, &oi)
		errors.As(arrErr, &ai)
		switch {
		case (objErr == nil) != (arrErr == nil):
			t.Errorf("n=%s c=%s: object %v, array %v", n, c, objErr, arrErr)
		case objErr != nil && (oi == nil || ai == nil || !maps.Equal(oi.Fields, ai.Fields)):
			t.Errorf("n=%s c=%s: object fields %v, array fields %v", n, c, oi, ai)
		case objErr == nil && (!sameFloat(object.Floats[0], array.Floats[0]) || object.Cats[0] != array.Cats[0]):
			t.Errorf("n=%s c=%s: object (%v, %q), array (%v, %q)", n, c, object.Floats[0], object.Cats[0], array.Floats[0], array.Cats[0])
		}
	}
	for _, n := range numbers {
		check(n, `"x"`)
	}
	for _, c := range cats {
		check(`1`, c)
	}
	b := newBatch1(s)
	if err := dec.DecodeValues([]byte(`[1,true]`), b); err != nil || b.Cats[0] != "yes" {
		t.Errorf("bool_as in an array: %v %q", err, b.Cats)
	}
	var ie *InputError
	if err := dec.DecodeValues([]byte(`[true,"x"]`), newBatch1(s)); !errors.As(err, &ie) || ie.Message != `feature "n" (position 0): want a number, got a boolean` {
		t.Errorf("message: %v", err)
	}
	for payload, want := range map[string]string{`[1]`: "array of 1 values, the model has 2 features", `[1,"x",3]`: "array of 3 values", `[]`: "array of 0 values", `[1,"x"`: "malformed JSON", `{"n":1}`: "expected a JSON array", `[1,"x"] 2`: "malformed JSON"} {
		b := newBatch1(s)
		if err := dec.DecodeValues([]byte(payload), b); err == nil || !strings.Contains(err.Error(), want) || b.Rows != 0 {
			t.Errorf("%s: %v (rows %d), want %q", payload, err, b.Rows, want)
		}
	}
}

// newBatch1 is an empty batch for one row of s.
func newBatch1(s *model.Schema) *model.Batch { return model.NewBatch(s, 1) }

func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

// smallDecimal gives strconv.ParseFloat's value, bit for bit, for every
// decimal it takes; it leaves the others (too many digits, exponents) to
// strconv.
func TestSmallDecimalIsStrconvExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []string{"0.0", "-0.0", "+1.5", ".5", "5.", "-86.5691", "336000.0", "0.1", "0.3", "999999999999999", "99999999999999.9", "0.00000000000001", "123456789012345"}
	for range 200_000 {
		digits := 1 + r.IntN(15)
		b := []byte(strconv.FormatUint(r.Uint64N(uint64(math.Pow10(digits))), 10))
		for len(b) < digits {
			b = append([]byte{'0'}, b...)
		}
		at := r.IntN(len(b) + 1)
		s := string(b[:at]) + "." + string(b[at:])
		if r.IntN(2) == 0 {
			s = "-" + s
		}
		cases = append(cases, s)
	}
	for _, s := range cases {
		got, ok := smallDecimal(s)
		want, err := strconv.ParseFloat(s, 64)
		if !ok || err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%q: smallDecimal %v (%v), strconv %v (%v)", s, got, ok, want, err)
		}
	}
	for _, s := range []string{"", "-", ".", "1e5", "1.2.3", "1234567890123456", "0.1234567890123456", "1_0", " 1", "0x1"} {
		if v, ok := smallDecimal(s); ok {
			t.Errorf("%q: took it as %v, want it left to strconv", s, v)
		}
	}
}
