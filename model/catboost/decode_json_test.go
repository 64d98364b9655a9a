package catboost

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestDecodeJSONOldLayout: CatBoost JSON without scale_and_bias (older
// exports, kiwi fixtures) means scale 1 and zero bias.
func TestDecodeJSONOldLayout(t *testing.T) {
	dir := fixtureDir(t)
	d := readDefinition(t, filepath.Join(dir, "kiwi-xor", "model.json"))
	if d.Scale != 1 || !reflect.DeepEqual(d.Bias, []float64{0}) {
		t.Errorf("scale %v bias %v, want 1 and [0]", d.Scale, d.Bias)
	}
}

// TestDecodeJSONCtrData checks a real ctr_data table: CatBoost's export
// holds one spurious entry with the empty-bucket hash (spec §6 item 7),
// which must not become a table entry; the others keep their counters.
func TestDecodeJSONCtrData(t *testing.T) {
	dir := fixtureDir(t)
	d := readDefinition(t, filepath.Join(dir, "gocb-ctr-binary", "model.json.gz"))
	if len(d.CtrTables) != 1 {
		t.Fatalf("%d tables, want 1", len(d.CtrTables))
	}
	tab := d.CtrTables[0]
	// From the file: 9 groups of [hash, count0, count1], one of them the
	// "18446744073709551615" artefact; first entry 10975433720605981792 → 194, 182.
	if len(tab.Index) != 8 {
		t.Errorf("%d hashes, want 8 (9 groups less the artefact)", len(tab.Index))
	}
	if _, ok := tab.Index[emptyBucketHash]; ok {
		t.Error("the empty-bucket artefact became an entry")
	}
	idx, ok := tab.Index[10975433720605981792]
	if !ok || idx != 0 || !reflect.DeepEqual(tab.Counters[0:2], []int32{194, 182}) {
		t.Errorf("first hash: index %d (found %v), counters %v; want 0, [194 182]", idx, ok, tab.Counters[:2])
	}
	if tab.TargetClassesCount != 2 || tab.Base.Type != CtrBorders {
		t.Errorf("table %+v, want a Borders table with 2 classes", tab.Base)
	}
	if len(d.Ctrs) != 3 || d.Ctrs[1].PriorNum != 0.5 || d.Ctrs[1].Scale != 15 || d.Ctrs[1].PriorDenom != 1 {
		t.Errorf("ctrs %+v", d.Ctrs)
	}
}

const smallCtrJSON = `{
 "ctr_data": {"{\"identifier\":[{\"cat_feature_index\":1,\"combination_element\":\"cat_feature_value\"}],\"type\":\"BinarizedTargetMeanValue\"}":
   {"counter_denominator": 0, "hash_map": ["18446744073709551615", 1.75, 3, "5", 1.75, 3, "12", 0.25, 1], "hash_stride": 3}},
 "features_info": {
  "categorical_features": [{"feature_id": "unused", "feature_index": 0, "flat_feature_index": 0},
                           {"feature_id": "city", "feature_index": 1, "flat_feature_index": 2}],
  "ctrs": [{"borders": [0.5], "ctr_type": "BinarizedTargetMeanValue",
            "elements": [{"cat_feature_index": 1, "combination_element": "cat_feature_value"}],
            "identifier": "{\"identifier\":[{\"cat_feature_index\":1,\"combination_element\":\"cat_feature_value\"}],\"type\":\"BinarizedTargetMeanValue\"}",
            "prior_denomerator": 1, "prior_numerator": 0, "scale": 1, "shift": 0, "target_border_idx": 0}],
  "float_features": [{"borders": [1, 2], "feature_id": "x", "feature_index": 0, "flat_feature_index": 1, "has_nans": true, "nan_value_treatment": "AsTrue"}]
 },
 "model_info": {"params": {"b": 1, "a": {"d": 2.50, "c": "x"}}, "note": "{\"kept\": true}"},
 "trees": [
  {"left": {"value": 1, "weight": 2},
   "right": {"left": {"value": 3, "weight": 4}, "right": {"value": 5, "weight": 6},
             "split": {"border": 0.5, "ctr_target_border_idx": 0, "split_index": 2, "split_type": "OnlineCtr"}},
   "split": {"border": 1, "float_feature_index": 0, "split_index": 0, "split_type": "FloatFeature"}},
  {"value": 7, "weight": 8}
 ],
 "scale_and_bias": [0.5, [0.25]]
}`

// TestDecodeJSONSmall decodes a hand-written export and checks every field:
// mean sums parsed as floats (CatBoost's own reader truncates them), cat
// features used only when read, nested trees laid out in pre-order (left
// child next, right child after the left subtree), model_info objects kept
// as canonical JSON and strings as they are.
func TestDecodeJSONSmall(t *testing.T) {
	d, err := DecodeJSON([]byte("\ufeff \n" + smallCtrJSON))
	if err != nil {
		t.Fatal(err)
	}
	base := CtrBase{Projection: Projection{CatFeatures: []int{1}}, Type: CtrBinarizedTargetMeanValue}
	want := &Definition{
		FloatFeatures: []FloatFeature{{Index: 0, FlatIndex: 1, Name: "x", Borders: []float32{1, 2}, HasNans: true, NanTreatment: NanAsTrue}},
		CatFeatures:   []CatFeature{{Index: 0, FlatIndex: 0, Name: "unused"}, {Index: 1, FlatIndex: 2, Name: "city", Used: true}},
		Ctrs:          []Ctr{{Base: base, PriorDenom: 1, Scale: 1, Borders: []float32{0.5}}},
		CtrTables: []CtrTable{{Base: base, Index: map[uint64]uint32{5: 0, 12: 1},
			Means: []MeanHistory{{Sum: 1.75, Count: 3}, {Sum: 0.25, Count: 1}}}},
		Splits: []Split{{Kind: SplitFloat, Feature: 0, Border: 1}, {Kind: SplitFloat, Feature: 0, Border: 2},
			{Kind: SplitCtr, Feature: 0, Border: 0.5}},
		ApproxDimension: 1,
		Trees: []Tree{
			{
				Nodes: []Node{
					{Split: 0, Left: 1, Right: 2, LeafOffset: NoLeaf},
					{LeafOffset: 0},
					{Split: 2, Left: 1, Right: 2, LeafOffset: NoLeaf},
					{LeafOffset: 1},
					{LeafOffset: 2},
				},
				LeafValues:  []float64{1, 3, 5},
				LeafWeights: []float64{2, 4, 6},
			},
			{Nodes: []Node{{LeafOffset: 0}}, LeafValues: []float64{7}, LeafWeights: []float64{8}},
		},
		Scale: 0.5,
		Bias:  []float64{0.25},
		Info:  map[string]string{"params": `{"a":{"c":"x","d":2.50},"b":1}`, "note": `{"kept": true}`},
	}
	for _, diff := range compareDefinitions(want, d, definitionCompare{}) {
		t.Error(diff)
	}
	// The string "note" stays a string when written; "params" is an object.
	var buf bytes.Buffer
	if err := writeJSON(d, &buf); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"note": "{\"kept\": true}"`, `"params": {"a":{"c":"x","d":2.50},"b":1}`,
		`"hash_map": ["5", 1.75, 3, "12", 0.25, 1]`} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("written JSON lacks %s:\n%s", s, buf.String())
		}
	}
}

func TestDecodeJSONIdentifierMismatch(t *testing.T) {
	doc := strings.Replace(smallCtrJSON, `"identifier": "{\"identifier\":[{\"cat_feature_index\":1`, `"identifier": "{\"identifier\":[{\"cat_feature_index\":0`, 1)
	_, err := DecodeJSON([]byte(doc))
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "disagrees with elements") {
		t.Fatalf("got %v, want a FormatError about the identifier", err)
	}
}

func TestDetectFormat(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.Bytes()
	}
	xgboost := `{"learner":{"gradient_booster":{"model":{"trees":[]}}},"version":[1,7,4]}`
	cases := []struct {
		name string
		data []byte
		want Format
	}{
		{"cbm", synthDefault().build(), FormatCBM},
		{"json", []byte(smallCtrJSON), FormatJSON},
		{"json with BOM and space", []byte("\ufeff\r\n\t" + smallCtrJSON), FormatJSON},
		{"json.gz", gz(smallCtrJSON), FormatJSONGzip},
		{"json.gz with a long ctr_data first", gz(`{"ctr_data":{"k":{"hash_map":["` + strings.Repeat("1", 200000) + `"]}},"features_info":{}}`), FormatJSONGzip},
		{"xgboost json", []byte(xgboost), FormatUnknown},
		{"gzipped xgboost json", gz(xgboost), FormatUnknown},
		{"lightgbm text", []byte("tree\nversion=v3\n"), FormatUnknown},
		{"empty", nil, FormatUnknown},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 0}, FormatUnknown},
	}
	for _, c := range cases {
		if got := DetectFormat(c.data); got != c.want {
			t.Errorf("%s: DetectFormat = %v, want %v", c.name, got, c.want)
		}
	}
	for f, s := range map[Format]string{FormatCBM: "cbm", FormatJSON: "json", FormatJSONGzip: "json.gz", FormatUnknown: "unknown"} {
		if f.String() != s {
			t.Errorf("Format(%d).String() = %q, want %q", f, f.String(), s)
		}
	}
}

// Another library's JSON model is not an empty CatBoost model: an XGBoost
// JSON export (no oblivious_trees, no trees) must be refused, or a forced
// model.format would serve a model with no features that scores a constant.
func TestDecodeJSONRefusesOtherLibrariesModels(t *testing.T) {
	for _, path := range []string{"../xgboost/testdata/binary_logistic.json"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecodeJSON(data)
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "not a CatBoost model") {
			t.Errorf("DecodeJSON(%s) = %v, want a FormatError saying it is not a CatBoost model", path, err)
		}
	}
	if _, err := DecodeJSON([]byte(`{"features_info":{}}`)); err == nil {
		t.Error(`DecodeJSON({"features_info":{}}) succeeded, want an error`)
	}
}
