package catboost_test

import (
	"os"
	"testing"

	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/catboost/cbjson"
)

// TestMain gives the internal tests the JSON writer of package cbjson,
// which imports package catboost and so is out of their reach: their round
// trips (Decode(Write(d)) == d, the fuzz properties) check the writer and
// the decoders against each other.
func TestMain(m *testing.M) {
	catboost.SetJSONWriter(cbjson.Write)
	os.Exit(m.Run())
}
