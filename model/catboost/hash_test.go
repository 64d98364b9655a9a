package catboost

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCatHashSpecTable checks the reference table of spec §3.1: the 64-bit
// values come from a transcription of CatBoost's util/digest/city.cpp
// ("Moscow" is ClickHouse's documented cityHash64 value) and "777" is the hash
// CatBoost's C API returned for the integer 777 (catboost/catboost#438).
func TestCatHashSpecTable(t *testing.T) {
	cases := []struct {
		in   string
		want uint32
	}{
		{"", 797982799},
		{"a", 3489901818},
		{"abc", 978243121},
		{"Moscow", 605890862},
		{"0", 2856682258},
		{"1", 1121341681},
		{"-1", 288298918},
		{"42", 1145636304},
		{"nan", 761118297},
		{"hello world!", 4212452723},
		{"0123456789abcdefXYZ", 3736446665},
		{strings.Repeat("x", 40), 3236838547},
		{strings.Repeat("y", 100), 2427565811},
		{"777", 3723922732},
	}
	for _, c := range cases {
		if got := CatHash(c.in); got != c.want {
			t.Errorf("CatHash(%q) = %d, want %d", c.in, got, c.want)
		}
	}
	if got := CatHashInt(777); got != 3723922732 {
		t.Errorf("CatHashInt(777) = %d, want 3723922732", got)
	}
	if got := CatHashInt(-1); got != 288298918 {
		t.Errorf("CatHashInt(-1) = %d, want 288298918", got)
	}
}

// TestCatHashVectors checks every vector CatBoost's native library produced
// (cb4j-cat-hash) and every (string_values, values) pair of the one-hot
// features in the JSON fixture models, which CatBoost wrote from its own hashes.
func TestCatHashVectors(t *testing.T) {
	dir := fixtureDir(t)
	var manifest struct {
		HashCases []struct {
			String string `json:"string"`
			Hash   int32  `json:"hash_int32"`
		} `json:"hash_cases"`
	}
	readJSON(t, filepath.Join(dir, "cb4j-cat-hash", "manifest.json"), &manifest)
	if len(manifest.HashCases) == 0 {
		t.Fatal("cb4j-cat-hash has no hash_cases")
	}
	for _, c := range manifest.HashCases {
		if got := int32(CatHash(c.String)); got != c.Hash {
			t.Errorf("cb4j vector %q: got %d, want %d", c.String, got, c.Hash)
		}
	}

	// The JSON fixtures carry one-hot `values` (CatBoost's own hashes) but, as
	// CatBoost 1.2.10 writes them, no `string_values`. Where string_values are
	// present each pair is a vector; otherwise a value is matched against the
	// categories the fixture's cases feed that feature: an equal 32-bit hash is
	// no coincidence, so every match is a vector CatBoost produced.
	pairs, matched := 0, 0
	models, err := filepath.Glob(filepath.Join(dir, "*", "model.json*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range models {
		var m struct {
			FeaturesInfo struct {
				Cat []struct {
					Index        int      `json:"feature_index"`
					Values       []int32  `json:"values"`
					StringValues []string `json:"string_values"`
				} `json:"categorical_features"`
			} `json:"features_info"`
		}
		readJSON(t, path, &m)
		var man struct {
			Cases []struct {
				Cats []string `json:"cat_features"`
			} `json:"cases"`
		}
		readJSON(t, filepath.Join(filepath.Dir(path), "manifest.json"), &man)
		for i, f := range m.FeaturesInfo.Cat {
			if len(f.StringValues) > 0 && len(f.StringValues) != len(f.Values) {
				t.Errorf("%s: cat feature %d has %d string_values for %d values", path, i, len(f.StringValues), len(f.Values))
				continue
			}
			for k, s := range f.StringValues {
				pairs++
				if got := int32(CatHash(s)); got != f.Values[k] {
					t.Errorf("%s: cat feature %d value %q: got %d, want %d", path, i, s, got, f.Values[k])
				}
			}
			seen := map[int32]bool{}
			for _, c := range man.Cases {
				if f.Index < len(c.Cats) {
					seen[int32(CatHash(c.Cats[f.Index]))] = true
				}
			}
			for _, v := range f.Values {
				if seen[v] {
					matched++
				}
			}
		}
	}
	// The fixture set holds one-hot models whose cases use their categories
	// (gocb-cat-onehot-small, gocb-mixed-multiclass, ...): no match at all
	// means the hash or the fixture reading broke.
	if pairs+matched == 0 {
		t.Fatal("no one-hot value of the JSON fixtures matched the hash of a case category")
	}
	t.Logf("checked %d cb4j vectors, %d string_values pairs, %d one-hot values matched by case categories",
		len(manifest.HashCases), pairs, matched)
}

func TestMixHash(t *testing.T) {
	// Sign extension (pitfall 2): a hash with the top bit set widens to
	// 0xFFFFFFFF_xxxxxxxx, and CalcHash(0, x) is MAGIC_MULT² · x mod 2^64.
	if got := catHashKey(0x80000001); got != 0xFFFFFFFF80000001 {
		t.Errorf("catHashKey(0x80000001) = %#x", got)
	}
	if got := catHashKey(0x7FFFFFFF); got != 0x7FFFFFFF {
		t.Errorf("catHashKey(0x7FFFFFFF) = %#x", got)
	}
	m := uint64(ctrMagicMult)
	if got, want := mixHash(0, 5), m*(m*5); got != want {
		t.Errorf("mixHash(0, 5) = %#x, want %#x", got, want)
	}
	if got, want := mixHash(3, 0), m*3; got != want {
		t.Errorf("mixHash(3, 0) = %#x, want %#x", got, want)
	}
}

func BenchmarkCatHash(b *testing.B) {
	values := []string{"WELLS FARGO BANK NATL ASSOC", "NC", "Other", "45", "BBCN BANK"}
	b.ReportAllocs()
	var sink uint32
	for i := 0; b.Loop(); i++ {
		sink += CatHash(values[i%len(values)])
	}
	_ = sink
}

// readJSON decodes a JSON or gzipped JSON file.
func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer zr.Close()
		r = zr
	}
	if err := json.NewDecoder(r).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func ExampleCatHash() {
	// The hash CatBoost gives the category "Moscow" (ClickHouse's
	// cityHash64('Moscow') is 12507901496292878638; CatBoost keeps the low
	// 32 bits).
	fmt.Println(CatHash("Moscow"))
	// Integers are hashed as their decimal string.
	fmt.Println(CatHashInt(777) == CatHash("777"))
	// Output:
	// 605890862
	// true
}
