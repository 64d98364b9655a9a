package ingest_test

import (
	"errors"
	"fmt"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/model"
)

// Decoding an application against a model's schema: numbers, numeric
// strings and null for numeric features; strings, integers and booleans
// for categories. Every bad field is reported at once.
func ExampleDecoder_DecodeOne() {
	schema := &model.Schema{NumFloat: 1, NumCat: 2, Features: []model.Feature{
		{Name: "Term", Kind: model.Float, FlatIndex: 0, Index: 0},
		{Name: "naics_first_two", Kind: model.Categorical, FlatIndex: 1, Index: 0},
		{Name: "is_new", Kind: model.Categorical, FlatIndex: 2, Index: 1},
	}}
	d := ingest.NewDecoder(schema, ingest.DefaultSchemaConfig(), ingest.DefaultLimits())

	var b model.Batch
	err := d.DecodeOne([]byte(`{"Term":"84","naics_first_two":45,"is_new":true}`), &b)
	fmt.Println(err, b.Floats, b.Cats)

	err = d.DecodeOne([]byte(`{"Term":"NaN","is_new":null}`), &b)
	var ie *ingest.InputError
	if errors.As(err, &ie) {
		fmt.Println(ie.Code, ie.Fields)
	}
	// Output:
	// <nil> [84] [45 True]
	// invalid_input map[Term:invalid_number is_new:invalid_category naics_first_two:missing]
}
