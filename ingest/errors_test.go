package ingest_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/sink"
)

// unknownKeys returns seedA with n extra fields "k0".."k<n-1>" in front:
// about 10 bytes each, so 100,000 of them make a 1 MB application.
func unknownKeys(n int) []byte {
	var sb strings.Builder
	sb.WriteByte('{')
	for i := range n {
		sb.WriteString(`"k` + strconv.Itoa(i) + `":0,`)
	}
	sb.WriteString(seedA[1:])
	return []byte(sb.String())
}

func strictDecoder(s *model.Schema) *ingest.Decoder {
	sc, lim := ingest.DefaultSchemaConfig(), ingest.DefaultLimits()
	sc.Strict = true
	lim.MaxPayload = 4 << 20
	return ingest.NewDecoder(s, sc, lim)
}

// TestStrictErrorIsBounded: an application with 100,000 unknown fields in
// strict mode is refused with an error that lists MaxErrorFields of them,
// the first ones met, and counts the rest; its body stays small. The old
// error listed all 100,000 and sorted them by insertion (seconds of CPU).
func TestStrictErrorIsBounded(t *testing.T) {
	const n = 100_000
	payload := unknownKeys(n)
	ie := inputError(t, strictDecoder(loanSchema()).DecodeOne(payload, &model.Batch{}))
	if len(ie.Fields) != ingest.MaxErrorFields {
		t.Fatalf("%d fields listed, want %d", len(ie.Fields), ingest.MaxErrorFields)
	}
	for i := range ingest.MaxErrorFields {
		if name := "k" + strconv.Itoa(i); ie.Fields[name] != ingest.FieldUnknown {
			t.Fatalf("field %s: %q, want the first fields met listed as unknown_field", name, ie.Fields[name])
		}
	}
	wantMsg := fmt.Sprintf("invalid fields: %d unknown field(s); %d more not listed in fields", n, n-ingest.MaxErrorFields)
	if ie.Message != wantMsg {
		t.Fatalf("message %q, want %q", ie.Message, wantMsg)
	}
	body := sink.AppendError(nil, "id", ie.Code, ie.Message, ie.Fields)
	if len(body) > 2048 {
		t.Fatalf("error body of %d bytes for a bounded list of fields", len(body))
	}
	t.Logf("%d-byte application: %d-byte error body", len(payload), len(body))
}

// TestStrictErrorListsFeaturesFirst: problems with the model's features
// are listed before unknown fields, whatever their order in the object;
// an unknown name given twice is listed once.
func TestStrictErrorListsFeaturesFirst(t *testing.T) {
	var sb strings.Builder
	sb.WriteByte('{')
	for i := range 100 {
		sb.WriteString(`"u` + strconv.Itoa(i%80) + `":1,`) // u0..u19 twice
	}
	sb.WriteString(`"Term":"x"}`)
	ie := inputError(t, strictDecoder(loanSchema()).DecodeOne([]byte(sb.String()), &model.Batch{}))
	if len(ie.Fields) != ingest.MaxErrorFields || ie.Fields["Term"] != ingest.FieldInvalidNumber || ie.Fields["same_state"] != ingest.FieldMissing {
		t.Fatalf("fields %v", ie.Fields)
	}
	// 18 features, then u0..u45.
	if ie.Fields["u45"] != ingest.FieldUnknown || ie.Fields["u46"] != "" {
		t.Fatalf("unknown fields listed: %v", ie.Fields)
	}
	want := "invalid fields: Term (invalid_number), NoEmp (missing), CreateJob (missing), RetainedJob (missing), longitude (missing), ...; 80 unknown field(s); 34 more not listed in fields"
	if ie.Message != want {
		t.Fatalf("message %q, want %q", ie.Message, want)
	}
}

// TestWideSchemaErrorIsBounded: an empty object against a model of 300
// features lists MaxErrorFields missing ones, in the model's order.
func TestWideSchemaErrorIsBounded(t *testing.T) {
	s := &model.Schema{NumFloat: 300}
	for i := range 300 {
		s.Features = append(s.Features, model.Feature{Name: "f" + strconv.Itoa(i), Kind: model.Float, FlatIndex: i, Index: i})
	}
	ie := inputError(t, ingest.NewDecoder(s, ingest.DefaultSchemaConfig(), ingest.DefaultLimits()).DecodeOne([]byte(`{}`), &model.Batch{}))
	if len(ie.Fields) != ingest.MaxErrorFields || ie.Fields["f63"] != ingest.FieldMissing || ie.Fields["f64"] != "" {
		t.Fatalf("fields %v", ie.Fields)
	}
	if !strings.HasSuffix(ie.Message, fmt.Sprintf("; %d more not listed in fields", 300-ingest.MaxErrorFields)) {
		t.Fatalf("message %q", ie.Message)
	}
}

// BenchmarkStrictUnknownFields: decoding a 1 MB application of 100,000
// unknown fields in strict mode and writing its error body.
func BenchmarkStrictUnknownFields(b *testing.B) {
	payload := unknownKeys(100_000)
	d := strictDecoder(loanSchema())
	var batch model.Batch
	var body []byte
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		ie := inputError(b, d.DecodeOne(payload, &batch))
		body = sink.AppendError(body[:0], "id", ie.Code, ie.Message, ie.Fields)
	}
	b.ReportMetric(float64(len(body)), "body-bytes")
}
