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
