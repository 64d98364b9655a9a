package catboost

import "io"

// writeJSON writes d as CatBoost JSON with package cbjson. cbjson imports
// this package, so this package's internal tests cannot import it; the
// external test package hands cbjson.Write over in TestMain
// (main_test.go) before any test runs.
func writeJSON(d *Definition, w io.Writer) error { return jsonWriter(w, d) }

// jsonWriter is cbjson.Write, set by SetJSONWriter.
var jsonWriter func(io.Writer, *Definition) error

// SetJSONWriter is how TestMain (package catboost_test) gives the internal
// tests the JSON writer.
func SetJSONWriter(write func(io.Writer, *Definition) error) { jsonWriter = write }
