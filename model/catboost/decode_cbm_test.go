package catboost

import (
	"os"
	"strings"
	"testing"
)

// TestDecodeFixtures decodes every fixture model file in every format.
func TestDecodeFixtures(t *testing.T) {
	for name, path := range fixtureModels(t) {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := FormatJSON
			switch {
			case strings.HasSuffix(path, ".cbm"):
				want = FormatCBM
			case strings.HasSuffix(path, ".gz"):
				want = FormatJSONGzip
			}
			if got := DetectFormat(data); got != want {
				t.Errorf("DetectFormat = %v, want %v", got, want)
			}
			t.Logf("floats %d cats %d onehot %d ctrs %d tables %d splits %d dim %d oblivious %d trees %d",
				len(d.FloatFeatures), len(d.CatFeatures), len(d.OneHotFeatures), len(d.Ctrs), len(d.CtrTables),
				len(d.Splits), d.ApproxDimension, len(d.Oblivious), len(d.Trees))
		})
	}
}

func readDefinition(t *testing.T, path string) *Definition {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d
}

// TestCBMMatchesJSON checks, for every fixture folder holding both a .cbm
// and a JSON export of the same model, that both decode to the same model.
func TestCBMMatchesJSON(t *testing.T) {
	models := fixtureModels(t)
	pairs := 0
	for name, cbm := range models {
		folder, ok := strings.CutSuffix(name, "/model.cbm")
		if !ok {
			continue
		}
		js, ok := models[folder+"/model.json.gz"]
		if !ok {
			js, ok = models[folder+"/model.json"]
		}
		if !ok {
			continue
		}
		pairs++
		t.Run(folder, func(t *testing.T) {
			a, b := readDefinition(t, cbm), readDefinition(t, js)
			for _, diff := range compareDefinitions(a, b, definitionCompare{crossFormat: true}) {
				t.Error(diff)
			}
		})
	}
	if pairs < 17 {
		t.Errorf("only %d fixture folders with both formats, want the 17 the fixture set has", pairs)
	}
}
