package ingest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/demo"
)

// The seed model's fields (DESIGN.md): 9 numbers, then 9 categories.
var (
	loanFloats = []string{"Term", "NoEmp", "CreateJob", "RetainedJob", "longitude", "latitude", "GrAppv", "SBA_Appv", "UrbanRural"}
	loanCats   = []string{"is_new", "FranchiseCode", "City", "State", "Bank", "BankState", "RevLineCr", "naics_first_two", "same_state"}
)

// The seed's two example applications.
const (
	seedA = `{"Term":84,"NoEmp":5,"CreateJob":0,"RetainedJob":5,"longitude":-77.9221,"latitude":35.3664,"GrAppv":1500000.0,"SBA_Appv":1275000.0,"is_new":true,"FranchiseCode":"0","UrbanRural":1,"City":"Other","State":"NC","Bank":"BBCN BANK","BankState":"CA","RevLineCr":"N","naics_first_two":"45","same_state":false}`
	seedB = `{"Term":19,"NoEmp":10,"CreateJob":0,"RetainedJob":10,"longitude":-85.0117,"latitude":41.0699,"GrAppv":3500000.0,"SBA_Appv":1750000.0,"is_new":false,"FranchiseCode":"1","UrbanRural":2,"City":"Other","State":"IN","Bank":"WELLS FARGO BANK NATL ASSOC","BankState":"SD","RevLineCr":"Y","naics_first_two":"81","same_state":false}`
)

// loanSchema is the seed model's schema laid out as CatBoost lays it out
// (floats first in the flat row), the shape every decoding test uses.
func loanSchema() *model.Schema {
	s := &model.Schema{NumFloat: len(loanFloats), NumCat: len(loanCats)}
	for i, n := range loanFloats {
		s.Features = append(s.Features, model.Feature{Name: n, Kind: model.Float, FlatIndex: i, Index: i, Used: true})
	}
	for i, n := range loanCats {
		s.Features = append(s.Features, model.Feature{Name: n, Kind: model.Categorical, FlatIndex: len(loanFloats) + i, Index: i, Used: true})
	}
	return s
}

func newLoanDecoder(mod func(*ingest.SchemaConfig, *ingest.Limits)) *ingest.Decoder {
	sc, lim := ingest.DefaultSchemaConfig(), ingest.DefaultLimits()
	if mod != nil {
		mod(&sc, &lim)
	}
	return ingest.NewDecoder(loanSchema(), sc, lim)
}

// withField returns seedA with field name's value text replaced by value,
// or removed when value is "".
func withField(t testing.TB, name, value string) string {
	t.Helper()
	key := `"` + name + `":`
	i := strings.Index(seedA, key)
	if i < 0 {
		t.Fatalf("no field %s", name)
	}
	j := i + len(key)
	depth := 0
	for ; j < len(seedA); j++ {
		c := seedA[j]
		if c == '"' {
			j = j + 1 + strings.IndexByte(seedA[j+1:], '"')
			continue
		}
		if depth == 0 && (c == ',' || c == '}') {
			break
		}
	}
	if value == "" {
		if seedA[j] == ',' {
			j++
		}
		return seedA[:i] + seedA[j:]
	}
	return seedA[:i] + key + value + seedA[j:]
}

func inputError(t testing.TB, err error) *ingest.InputError {
	t.Helper()
	var ie *ingest.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T) is not an *InputError", err, err)
	}
	return ie
}

func TestDecodeSeedApplications(t *testing.T) {
	d := newLoanDecoder(nil)
	var b model.Batch
	for _, p := range []string{seedA, seedB} {
		if err := d.DecodeOne([]byte(p), &b); err != nil {
			t.Fatalf("decode seed application: %v", err)
		}
	}
	if b.Rows != 2 || b.NumFloat != 9 || b.NumCat != 9 {
		t.Fatalf("batch rows=%d shape %dx%d", b.Rows, b.NumFloat, b.NumCat)
	}
	floats, cats := b.Row(0)
	wantF := []float64{84, 5, 0, 5, -77.9221, 35.3664, 1500000, 1275000, 1}
	wantC := []string{"True", "0", "Other", "NC", "BBCN BANK", "CA", "N", "45", "False"}
	if !reflect.DeepEqual(floats, wantF) || !reflect.DeepEqual(cats, wantC) {
		t.Fatalf("row 0 = %v %v, want %v %v", floats, cats, wantF, wantC)
	}
	floats, cats = b.Row(1)
	wantF = []float64{19, 10, 0, 10, -85.0117, 41.0699, 3500000, 1750000, 2}
	wantC = []string{"False", "1", "Other", "IN", "WELLS FARGO BANK NATL ASSOC", "SD", "Y", "81", "False"}
	if !reflect.DeepEqual(floats, wantF) || !reflect.DeepEqual(cats, wantC) {
		t.Fatalf("row 1 = %v %v, want %v %v", floats, cats, wantF, wantC)
	}
}

// TestDecodeNumbers covers a numeric feature (Term) and a categorical one
// (naics_first_two) with every kind of value. want is the decoded value, or
// the field's problem when it starts with "!".
func TestDecodeNumbers(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		value string
		want  float64
		bad   string
	}{
		{`84`, 84, ""},
		{`-1.5e2`, -150, ""},
		{`0`, 0, ""},
		{`1E+2`, 100, ""},
		{`"84"`, 84, ""},
		{`"-1.5e2"`, -150, ""},
		{`"+2"`, 2, ""},
		{`".5"`, 0.5, ""},
		{`"5."`, 5, ""},
		{`"007"`, 7, ""},
		{`"\u0034\u0032"`, 42, ""}, // escapes are unescaped before parsing
		{`null`, nan, ""},
		{`"NaN"`, 0, ingest.FieldInvalidNumber},
		{`"nan"`, 0, ingest.FieldInvalidNumber},
		{`"Inf"`, 0, ingest.FieldInvalidNumber},
		{`"-Infinity"`, 0, ingest.FieldInvalidNumber},
		{`"0x10"`, 0, ingest.FieldInvalidNumber},
		{`"1_000"`, 0, ingest.FieldInvalidNumber},
		{`""`, 0, ingest.FieldInvalidNumber},
		{`" 84"`, 0, ingest.FieldInvalidNumber},
		{`"84 "`, 0, ingest.FieldInvalidNumber},
		{`"."`, 0, ingest.FieldInvalidNumber},
		{`"1e"`, 0, ingest.FieldInvalidNumber},
		{`"1e400"`, 0, ingest.FieldInvalidNumber}, // overflows to Inf: not finite
		{`1e400`, 0, ingest.FieldInvalidNumber},
		{`-1e400`, 0, ingest.FieldInvalidNumber},
		{`true`, 0, ingest.FieldInvalidNumber},
		{`false`, 0, ingest.FieldInvalidNumber},
		{`{}`, 0, ingest.FieldInvalidNumber},
		{`[1]`, 0, ingest.FieldInvalidNumber},
		{`{"a":[{"b":null}]}`, 0, ingest.FieldInvalidNumber},
	} {
		t.Run(c.value, func(t *testing.T) {
			d := newLoanDecoder(nil)
			var b model.Batch
			err := d.DecodeOne([]byte(withField(t, "Term", c.value)), &b)
			if c.bad != "" {
				ie := inputError(t, err)
				if ie.Code != ingest.CodeInvalidInput || !reflect.DeepEqual(ie.Fields, map[string]string{"Term": c.bad}) {
					t.Fatalf("got %v %v, want Term: %s", ie.Code, ie.Fields, c.bad)
				}
				if b.Rows != 0 || len(b.Floats) != 0 {
					t.Fatalf("a failed decode left %d rows", b.Rows)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := b.Floats[0]
			if got != c.want && !(math.IsNaN(got) && math.IsNaN(c.want)) {
				t.Fatalf("Term = %v, want %v", got, c.want)
			}
		})
	}
}

func TestDecodeCategories(t *testing.T) {
	for _, c := range []struct {
		value string
		want  string
		bad   string
	}{
		{`"45"`, "45", ""},
		{`"Other"`, "Other", ""},
		{`""`, "", ""},
		{`"\u00e9t\u00E9"`, "été", ""},
		{`"\ud83d\ude00"`, "😀", ""}, // a surrogate pair is one rune
		{`"a\"b\\c\/d\n"`, "a\"b\\c/d\n", ""},
		{`"日本"`, "日本", ""},
		{`45`, "45", ""},
		{`-7`, "-7", ""},
		{`0`, "0", ""},
		{`-0`, "0", ""}, // Python's str(-0) is "0"
		{`9007199254740992`, "9007199254740992", ""},
		{`-9007199254740992`, "-9007199254740992", ""},
		{`9007199254740993`, "", ingest.FieldInvalidCategory},
		{`12345678901234567890`, "", ingest.FieldInvalidCategory},
		{`45.0`, "", ingest.FieldInvalidCategory},
		{`4.5`, "", ingest.FieldInvalidCategory},
		{`1e2`, "", ingest.FieldInvalidCategory},
		{`true`, "True", ""},
		{`false`, "False", ""},
		{`null`, "", ingest.FieldInvalidCategory},
		{`{}`, "", ingest.FieldInvalidCategory},
		{`["45"]`, "", ingest.FieldInvalidCategory},
	} {
		t.Run(c.value, func(t *testing.T) {
			d := newLoanDecoder(nil)
			var b model.Batch
			err := d.DecodeOne([]byte(withField(t, "naics_first_two", c.value)), &b)
			if c.bad != "" {
				ie := inputError(t, err)
				if !reflect.DeepEqual(ie.Fields, map[string]string{"naics_first_two": c.bad}) {
					t.Fatalf("fields %v, want naics_first_two: %s", ie.Fields, c.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := b.Cats[7]; got != c.want {
				t.Fatalf("naics_first_two = %q, want %q", got, c.want)
			}
		})
	}
}

func TestDecodeBoolAs(t *testing.T) {
	d := newLoanDecoder(func(sc *ingest.SchemaConfig, _ *ingest.Limits) { sc.BoolAs = []string{"0", "1"} })
	var b model.Batch
	if err := d.DecodeOne([]byte(seedA), &b); err != nil {
		t.Fatal(err)
	}
	if b.Cats[0] != "1" || b.Cats[8] != "0" {
		t.Fatalf("is_new=%q same_state=%q, want 1 and 0", b.Cats[0], b.Cats[8])
	}
}

func TestDecodeFieldErrors(t *testing.T) {
	t.Run("every bad field listed", func(t *testing.T) {
		payload := `{"NoEmp":"x","CreateJob":0,"RetainedJob":5,"longitude":-77.9,"latitude":35.3,"GrAppv":1,"SBA_Appv":1,` +
			`"is_new":null,"FranchiseCode":"0","UrbanRural":1,"City":"Other","State":"NC","Bank":"B","BankState":"CA",` +
			`"RevLineCr":"N","naics_first_two":4.5}`
		err := newLoanDecoder(nil).DecodeOne([]byte(payload), &model.Batch{})
		ie := inputError(t, err)
		want := map[string]string{
			"Term": "missing", "same_state": "missing", "NoEmp": "invalid_number",
			"is_new": "invalid_category", "naics_first_two": "invalid_category",
		}
		if ie.Code != ingest.CodeInvalidInput || !reflect.DeepEqual(ie.Fields, want) {
			t.Fatalf("got %s %v, want %v", ie.Code, ie.Fields, want)
		}
		if !strings.Contains(ie.Message, "Term (missing)") {
			t.Errorf("message %q does not name the fields", ie.Message)
		}
	})
	t.Run("unknown fields ignored", func(t *testing.T) {
		p := `{"id":"x","extra":{"deep":[1,2,{"a":null}]},` + seedA[1:]
		if err := newLoanDecoder(nil).DecodeOne([]byte(p), &model.Batch{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("strict rejects unknown fields", func(t *testing.T) {
		p := `{"id":"x","a<b>":1,` + seedA[1:]
		d := newLoanDecoder(func(sc *ingest.SchemaConfig, _ *ingest.Limits) { sc.Strict = true })
		ie := inputError(t, d.DecodeOne([]byte(p), &model.Batch{}))
		want := map[string]string{"id": "unknown_field", "a<b>": "unknown_field"}
		if !reflect.DeepEqual(ie.Fields, want) {
			t.Fatalf("fields %v, want %v", ie.Fields, want)
		}
		if strings.Contains(ie.Message, "a<b>") {
			t.Errorf("message %q echoes an input field name", ie.Message)
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		p := `{"Term":1,` + seedA[1:]
		ie := inputError(t, newLoanDecoder(nil).DecodeOne([]byte(p), &model.Batch{}))
		if !reflect.DeepEqual(ie.Fields, map[string]string{"Term": "duplicate"}) {
			t.Fatalf("fields %v", ie.Fields)
		}
	})
	t.Run("escaped key matches", func(t *testing.T) {
		p := strings.Replace(seedA, `"Term"`, `"\u0054erm"`, 1)
		var b model.Batch
		if err := newLoanDecoder(nil).DecodeOne([]byte(p), &b); err != nil || b.Floats[0] != 84 {
			t.Fatalf("err %v, Term %v", err, b.Floats)
		}
	})
}

func TestDecodeMalformed(t *testing.T) {
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	ok63 := strings.Repeat("[", 62) + strings.Repeat("]", 62) // with the object: 63 levels
	for name, p := range map[string]string{
		"empty":             ``,
		"spaces":            `   `,
		"not an object":     `42`,
		"string":            `"x"`,
		"truncated":         seedA[:len(seedA)-1],
		"trailing garbage":  seedA + `x`,
		"two objects":       seedA + seedA,
		"trailing comma":    strings.Replace(seedA, `}`, `,}`, 1),
		"single quotes":     `{'Term':1}`,
		"bare key":          `{Term:1}`,
		"bad escape":        strings.Replace(seedA, `"Other"`, `"Oth\x"`, 1),
		"short \\u":         strings.Replace(seedA, `"Other"`, `"\u12"`, 1),
		"lone high surr":    strings.Replace(seedA, `"Other"`, `"\ud83d"`, 1),
		"lone low surr":     strings.Replace(seedA, `"Other"`, `"\ude00"`, 1),
		"reversed surr":     strings.Replace(seedA, `"Other"`, `"\ude00\ud83d"`, 1),
		"invalid UTF-8":     strings.Replace(seedA, `"Other"`, "\"Oth\xffer\"", 1),
		"overlong UTF-8":    strings.Replace(seedA, `"Other"`, "\"\xc0\xaf\"", 1),
		"control char":      strings.Replace(seedA, `"Other"`, "\"Oth\ner\"", 1),
		"leading zero":      strings.Replace(seedA, `"Term":84`, `"Term":084`, 1),
		"plus sign":         strings.Replace(seedA, `"Term":84`, `"Term":+84`, 1),
		"NaN literal":       strings.Replace(seedA, `"Term":84`, `"Term":NaN`, 1),
		"nul literal":       strings.Replace(seedA, `"Term":84`, `"Term":nul`, 1),
		"deep nesting":      `{"x":` + deep + `,` + seedA[1:],
		"unclosed deep":     `{"x":` + strings.Repeat("[", 10000),
		"mismatched":        `{"x":[1}` + seedA[1:],
		"deep within limit": `{"x":` + ok63 + `,` + seedA[1:], // the only valid one: checked below
	} {
		t.Run(name, func(t *testing.T) {
			err := newLoanDecoder(nil).DecodeOne([]byte(p), &model.Batch{})
			if name == "deep within limit" {
				if err != nil {
					t.Fatalf("63 levels: %v", err)
				}
				return
			}
			ie := inputError(t, err)
			if ie.Code != ingest.CodeInvalidInput || ie.Fields != nil {
				t.Fatalf("got %s %v (%s), want invalid_input without fields", ie.Code, ie.Fields, ie.Message)
			}
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	d := newLoanDecoder(func(_ *ingest.SchemaConfig, l *ingest.Limits) { l.MaxPayload = len(seedA); l.MaxArray = 3 })
	if err := d.DecodeOne([]byte(seedA), &model.Batch{}); err != nil {
		t.Fatalf("payload at the limit: %v", err)
	}
	ie := inputError(t, d.DecodeOne([]byte(seedA+" "), &model.Batch{}))
	if ie.Code != ingest.CodePayloadTooLarge {
		t.Fatalf("one byte over: %s", ie.Code)
	}
	ie = inputError(t, d.DecodeOne([]byte("[{}]"), &model.Batch{}))
	if ie.Code != ingest.CodeInvalidInput {
		t.Fatalf("array on the async path: %s", ie.Code)
	}

	_, _, err := d.DecodeMany([]byte("["+seedA+","+seedA+","+seedA+","+seedA+"]"), &model.Batch{})
	if ie := inputError(t, err); ie.Code != ingest.CodeInvalidInput {
		t.Fatalf("4 items with max_array 3: %s", ie.Code)
	}
	big := `{"pad":"` + strings.Repeat("x", 10) + `",` + seedA[1:]
	var b model.Batch
	itemErrs, isArray, err := d.DecodeMany([]byte("["+seedA+","+big+"]"), &b)
	if err != nil || !isArray || len(itemErrs) != 2 || itemErrs[0] != nil {
		t.Fatalf("items %v array %v err %v", itemErrs, isArray, err)
	}
	if ie := inputError(t, itemErrs[1]); ie.Code != ingest.CodePayloadTooLarge || b.Rows != 1 {
		t.Fatalf("oversized item: %s, rows %d", ie.Code, b.Rows)
	}
}

func TestDecodeMany(t *testing.T) {
	d := newLoanDecoder(nil)
	t.Run("object", func(t *testing.T) {
		var b model.Batch
		itemErrs, isArray, err := d.DecodeMany([]byte(" "+seedB+"\n"), &b)
		if err != nil || isArray || len(itemErrs) != 1 || itemErrs[0] != nil || b.Rows != 1 {
			t.Fatalf("items %v array %v err %v rows %d", itemErrs, isArray, err, b.Rows)
		}
	})
	t.Run("object with bad fields", func(t *testing.T) {
		var b model.Batch
		itemErrs, isArray, err := d.DecodeMany([]byte(withField(t, "Term", "")), &b)
		if err != nil || isArray || len(itemErrs) != 1 || b.Rows != 0 {
			t.Fatalf("items %v array %v err %v rows %d", itemErrs, isArray, err, b.Rows)
		}
		if ie := inputError(t, itemErrs[0]); ie.Fields["Term"] != "missing" {
			t.Fatalf("fields %v", ie.Fields)
		}
	})
	t.Run("array with bad items", func(t *testing.T) {
		var b model.Batch
		p := "[" + seedA + "," + withField(t, "City", "null") + ",42," + seedB + "]"
		itemErrs, isArray, err := d.DecodeMany([]byte(p), &b)
		if err != nil || !isArray || len(itemErrs) != 4 {
			t.Fatalf("items %v array %v err %v", itemErrs, isArray, err)
		}
		if itemErrs[0] != nil || itemErrs[3] != nil || b.Rows != 2 {
			t.Fatalf("good items failed: %v, rows %d", itemErrs, b.Rows)
		}
		if ie := inputError(t, itemErrs[1]); ie.Fields["City"] != "invalid_category" {
			t.Fatalf("item 1: %v", ie.Fields)
		}
		if ie := inputError(t, itemErrs[2]); ie.Code != ingest.CodeInvalidInput || ie.Fields != nil {
			t.Fatalf("item 2: %v", ie)
		}
		// Rows in item order: seedA then seedB.
		if f0, _ := b.Row(0); f0[0] != 84 {
			t.Fatalf("row 0 Term %v", f0[0])
		}
		if f1, _ := b.Row(1); f1[0] != 19 {
			t.Fatalf("row 1 Term %v", f1[0])
		}
	})
	t.Run("empty array", func(t *testing.T) {
		itemErrs, isArray, err := d.DecodeMany([]byte(" [ ] "), &model.Batch{})
		if err != nil || !isArray || len(itemErrs) != 0 {
			t.Fatalf("items %v array %v err %v", itemErrs, isArray, err)
		}
	})
	t.Run("malformed array leaves the batch unchanged", func(t *testing.T) {
		var b model.Batch
		if err := d.DecodeOne([]byte(seedA), &b); err != nil {
			t.Fatal(err)
		}
		_, _, err := d.DecodeMany([]byte("["+seedA+","+seedB), &b)
		if ie := inputError(t, err); ie.Code != ingest.CodeInvalidInput || b.Rows != 1 || len(b.Floats) != 9 {
			t.Fatalf("%v, rows %d", ie, b.Rows)
		}
	})
}

func TestConfigsValidate(t *testing.T) {
	if err := ingest.DefaultSchemaConfig().Validate(); err != nil {
		t.Error(err)
	}
	if err := ingest.DefaultLimits().Validate(); err != nil {
		t.Error(err)
	}
	for _, sc := range []ingest.SchemaConfig{{BoolAs: []string{"x"}}, {BoolAs: []string{"x", "x"}}} {
		if sc.Validate() == nil {
			t.Errorf("%+v valid", sc)
		}
	}
	for _, l := range []ingest.Limits{{MaxPayload: 0, MaxArray: 1}, {MaxPayload: 100, MaxArray: 0}} {
		if l.Validate() == nil {
			t.Errorf("%+v valid", l)
		}
	}
}

// BenchmarkDecode decodes the seed application on the async path (one
// object into a reused batch).
func BenchmarkDecode(b *testing.B) {
	d := newLoanDecoder(nil)
	payload := []byte(seedA)
	batch := model.NewBatch(loanSchema(), 1)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		batch.Reset()
		if err := d.DecodeOne(payload, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeDemo decodes the seed application with the demo model's
// schema, whose feature order is the order the application's fields come
// in (as `scorer gen` and most producers write them).
func BenchmarkDecodeDemo(b *testing.B) {
	cb, err := catboost.Load(demo.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	s := cb.Schema()
	d := ingest.NewDecoder(s, ingest.DefaultSchemaConfig(), ingest.DefaultLimits())
	payload := []byte(seedA)
	batch := model.NewBatch(s, 1)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		batch.Reset()
		if err := d.DecodeOne(payload, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEncodingJSON is the baseline BenchmarkDecode is measured
// against: encoding/json into a map, as a generic decoder would start,
// before any schema mapping.
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	payload := []byte(seedA)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeMany decodes an array of 100 seed applications (the sync
// and HTTP paths).
func BenchmarkDecodeMany(b *testing.B) {
	d := newLoanDecoder(nil)
	payload := []byte("[" + strings.TrimSuffix(strings.Repeat(seedA+",", 50)+strings.Repeat(seedB+",", 50), ",") + "]")
	batch := model.NewBatch(loanSchema(), 100)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		batch.Reset()
		if _, _, err := d.DecodeMany(payload, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeWideSchema: a model with more than 256 features (unnamed, so
// addressed as "0", "1", ...) keeps track of every one.
func TestDecodeWideSchema(t *testing.T) {
	const n = 300
	s := &model.Schema{NumFloat: n}
	for i := range n {
		s.Features = append(s.Features, model.Feature{Name: strconv.Itoa(i), Kind: model.Float, FlatIndex: i, Index: i, Used: true})
	}
	d := ingest.NewDecoder(s, ingest.DefaultSchemaConfig(), ingest.Limits{MaxPayload: 1 << 20, MaxArray: 10})
	fields := make([]string, n)
	for i := range fields {
		fields[i] = fmt.Sprintf(`"%d":%d`, i, i*2)
	}
	var b model.Batch
	if err := d.DecodeOne([]byte("{"+strings.Join(fields, ",")+"}"), &b); err != nil {
		t.Fatal(err)
	}
	if b.Floats[299] != 598 || b.Floats[0] != 0 || b.Floats[257] != 514 {
		t.Fatalf("values %v %v %v", b.Floats[0], b.Floats[257], b.Floats[299])
	}
	// Feature 280 missing, 270 given twice: both found beyond the first 256.
	bad := slices.Clone(fields)
	bad[280] = `"270":1`
	ie := inputError(t, d.DecodeOne([]byte("{"+strings.Join(bad, ",")+"}"), &b))
	if want := map[string]string{"280": "missing", "270": "duplicate"}; !reflect.DeepEqual(ie.Fields, want) {
		t.Fatalf("fields %v, want %v", ie.Fields, want)
	}
	// The second object of an array starts with a clean slate.
	items := "[" + "{" + strings.Join(fields, ",") + "}," + "{" + strings.Join(fields, ",") + "}]"
	itemErrs, _, err := d.DecodeMany([]byte(items), &model.Batch{})
	if err != nil || itemErrs[0] != nil || itemErrs[1] != nil {
		t.Fatalf("array of wide objects: %v %v", itemErrs, err)
	}
}

// TestDecodeEscapesInCategories: text after an escape is kept byte for byte,
// and escapes of every kind unescape to what encoding/json gives.
func TestDecodeEscapesInCategories(t *testing.T) {
	d := newLoanDecoder(nil)
	for _, raw := range []string{
		`"\n日本\"x\\\/\b\f\r\t\u0000\u001f\u00e9\uD83D\uDE00 tail é"`,
		`"\\"`, `"\u0041"`, `"a\u0000b"`,
	} {
		var b model.Batch
		if err := d.DecodeOne([]byte(withField(t, "City", raw)), &b); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatal(err)
		}
		if b.Cats[2] != want {
			t.Fatalf("%s: %q, want %q", raw, b.Cats[2], want)
		}
	}
	for _, raw := range []string{`"\u00e9` + "\x01" + `"`, `"\n` + "\xff" + `"`, `"\q"`, `"\uZZZZ"`, `"\ud83d\u0041"`, `"\ud83dx"`, `"\`} {
		ie := inputError(t, d.DecodeOne([]byte(withField(t, "City", raw)), &model.Batch{}))
		if ie.Fields != nil {
			t.Fatalf("%q: %v, want malformed JSON", raw, ie)
		}
	}
}
