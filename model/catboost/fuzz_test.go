package catboost

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
)

// The fuzz targets feed arbitrary bytes to the loaders. Property: Decode
// never panics, and what it accepts is valid, can be written as JSON and
// read back, and compiles into a model that scores a row of missing values
// without panicking. Crashers found by fuzzing are kept under
// testdata/fuzz/<target>/ and replayed by `go test`.

// boundMinimization caps Go's minimization of new inputs at 100 runs unless
// -fuzzminimizetime was given. With the default (60 s per input, measured
// here) a worker that finds new coverage in the first second minimizes until
// the 15 s budget of scripts/test.sh is over: about 20 inputs get fuzzed.
// With the cap, about 20,000 a second (Go 1.26).
func boundMinimization(f *testing.F) {
	set := false
	flag.Visit(func(fl *flag.Flag) { set = set || fl.Name == "test.fuzzminimizetime" })
	if !set {
		if err := flag.Set("test.fuzzminimizetime", "100x"); err != nil {
			f.Logf("cannot bound fuzz minimization: %v", err)
		}
	}
}

// fuzzFixtures returns the fixture model files (see fixtureModels), or none
// outside CI when the fixtures are missing: the targets then fuzz from their
// other seeds instead of skipping.
func fuzzFixtures(f *testing.F) map[string]string {
	if _, why := findFixtureDir(); why != "" && os.Getenv("CI") == "" {
		f.Logf("fuzzing without fixture seeds: %s", why)
		return nil
	}
	return fixtureModels(f)
}

// fuzzSeedModels adds every fixture model file whose name satisfies keep.
func fuzzSeedModels(f *testing.F, keep func(name string) bool) {
	for name, path := range fuzzFixtures(f) {
		if !keep(name) {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzLoadCBM(f *testing.F) {
	boundMinimization(f)
	fuzzSeedModels(f, func(name string) bool { return strings.HasSuffix(name, ".cbm") })
	f.Add(synthDefault().build())
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoded(t, data)
	})
}

func FuzzLoadJSON(f *testing.F) {
	boundMinimization(f)
	fuzzSeedModels(f, func(name string) bool { return !strings.HasSuffix(name, ".cbm") })
	for name, path := range fuzzFixtures(f) {
		if strings.HasSuffix(name, ".gz") {
			f.Add(readJSONText(f, path)) // the text, not only the gzip
		}
	}
	for seed := range uint64(4) {
		cfg := DefaultRandomConfig()
		cfg.Trees, cfg.Symmetric, cfg.Dimension = 3, seed%2 == 0, 1+int(seed)%3
		var buf bytes.Buffer
		if err := writeJSON(Random(rand.New(rand.NewPCG(seed, 1)), cfg), &buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoded(t, data)
	})
}

// checkDecoded is the fuzz property.
func checkDecoded(t *testing.T, data []byte) {
	d, err := Decode(data)
	if err != nil {
		return
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("Decode accepted a definition that fails Validate: %v", err)
	}
	var buf bytes.Buffer
	if err := writeJSON(d, &buf); err != nil {
		t.Fatalf("WriteJSON of a decoded definition: %v", err)
	}
	if _, err := Decode(buf.Bytes()); err != nil {
		t.Fatalf("Decode(WriteJSON(d)): %v", err)
	}
	m, err := Compile(d)
	if err != nil {
		t.Fatalf("Compile of a valid definition: %v", err)
	}
	b := model.NewBatch(m.Schema(), 1)
	b.AppendRow() // NaN floats, empty categories
	for _, p := range []model.PredictionType{model.RawFormulaVal, model.Probability, model.Class, model.Exponent, model.MultiProbability} {
		out := make([]float64, m.Output().Width(p))
		_ = m.Predict(b, p, out) // an unsupported type is an error, never a panic
	}
}
