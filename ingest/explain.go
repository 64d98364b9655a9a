package ingest

import (
	"fmt"
	"strings"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// How a caller asks for reasons: the header Explain on an async or sync
// message, the query parameter explain on POST /predict. Both hold K, the
// number of reasons each application gets: 0 (none) up to the model's
// feature count (reason.MaxK).
const (
	// HeaderExplain is the message header that asks for K reasons.
	HeaderExplain = "Explain"
	// QueryExplain is the HTTP query parameter that asks for K reasons.
	QueryExplain = "explain"
)

// Per-field problems of an Explain header or explain query value.
const (
	// FieldInvalidInteger: not a decimal integer (digits only, no sign).
	FieldInvalidInteger = "invalid_integer"
	// FieldOutOfRange: an integer above the model's feature count.
	FieldOutOfRange = "out_of_range"
)

// maxExplainDigits bounds the digits read: no model has a billion features.
const maxExplainDigits = 9

// ParseExplain reads K from the value of field (HeaderExplain or
// QueryExplain) for a model with schema s. A bad value is an *InputError
// (invalid_input) naming field with FieldInvalidInteger or
// FieldOutOfRange; its message states the accepted range and never echoes
// the value.
func ParseExplain(field, value string, s *model.Schema) (int, error) {
	maxK := reason.MaxK(s)
	bad := func(problem string) error {
		return &InputError{Code: CodeInvalidInput,
			Message: fmt.Sprintf("%s: want the number of reasons, an integer within 0..%d (the model's features)", field, maxK),
			Fields:  map[string]string{field: problem}}
	}
	if value == "" {
		return 0, bad(FieldInvalidInteger)
	}
	for i := range len(value) {
		if value[i] < '0' || value[i] > '9' {
			return 0, bad(FieldInvalidInteger)
		}
	}
	digits := strings.TrimLeft(value, "0") // "007" is 7
	if len(digits) > maxExplainDigits {
		return 0, bad(FieldOutOfRange)
	}
	k := 0
	for i := range len(digits) {
		k = 10*k + int(digits[i]-'0')
	}
	if k > maxK {
		return 0, bad(FieldOutOfRange)
	}
	return k, nil
}
