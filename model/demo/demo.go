package demo

import (
	"bytes"
	_ "embed" // the model file
)

// Name is the demo model's name, the <name> of its "<name>@<sha>" version.
const Name = "loan-demo"

// Notice labels the demo model wherever it is shown.
const Notice = "illustrative model trained on synthetic data"

// file is the embedded model (go:embed needs a package variable; it is
// never modified).
//
//go:embed loan-demo.json.gz
var file []byte

// Bytes returns the model file: gzipped CatBoost JSON, loadable with
// catboost.Load or any CatBoost JSON loader after gunzip. Each call returns
// a fresh copy (about 300 KB), so no caller can change what others load.
func Bytes() []byte { return bytes.Clone(file) }
