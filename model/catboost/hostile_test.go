package catboost

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// decodeErr decodes data, which must fail, and returns the error.
func decodeErr(t *testing.T, data []byte) error {
	t.Helper()
	d, err := Decode(data)
	if err == nil {
		t.Fatalf("Decode succeeded on hostile input (%d trees)", len(d.Oblivious)+len(d.Trees))
	}
	return err
}

func wantFormatError(t *testing.T, err error, sentinel error, text string) {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FormatError", err, err)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("error %q does not wrap %v", err, sentinel)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not say %q", err, text)
	}
}

func patchU32(file []byte, at int, v uint32) []byte {
	out := bytes.Clone(file)
	binary.LittleEndian.PutUint32(out[at:], v)
	return out
}

func TestHostileCBM(t *testing.T) {
	good := synthDefault()
	file := good.build()
	if _, err := Decode(file); err != nil {
		t.Fatalf("the unmodified synthetic model must decode: %v", err)
	}
	cases := []struct {
		name     string
		data     func() []byte
		sentinel error
		text     string
	}{
		{"wrong magic", func() []byte { return append([]byte("CBM2"), file[4:]...) }, nil, `does not start with "CBM1"`},
		{"inside magic", func() []byte { return []byte("CB") }, ErrTruncated, "ends inside the magic"},
		{"core size past end", func() []byte { return patchU32(file, 4, 0x7ffffff0) }, ErrTruncated, "core size"},
		{"64-bit core size past end", func() []byte {
			f := patchU32(file, 4, 0xFFFFFFFF)
			return append(f[:8], append(binary.LittleEndian.AppendUint64(nil, 1<<40), f[8:]...)...)
		}, ErrTruncated, "core size"},
		{"root offset past end", func() []byte { return patchU32(file, 8, 0x7fffffff) }, ErrTruncated, "table offset"},
		{"vtable outside", func() []byte {
			root := 8 + int(binary.LittleEndian.Uint32(file[8:]))
			return patchU32(file, root, 0x7fffffff)
		}, ErrTruncated, "vtable offset"},
		{"borders vector of 2^31", func() []byte { return patchU32(file, good.marks["borders0"], 1<<31) }, ErrTruncated, "FloatFeatures[0].Borders"},
		{"2^31 trees", func() []byte { return patchU32(file, good.marks["TreeSizes"], 1<<31) }, ErrTruncated, "TreeSizes"},
		{"2^31 leaf values", func() []byte { return patchU32(file, good.marks["LeafValues"], 1<<31) }, ErrTruncated, "LeafValues"},
		{"2^31 float features", func() []byte { return patchU32(file, good.marks["FloatFeatures"], 1<<31) }, ErrTruncated, "FloatFeatures"},
		{"2^31 ctr tables", func() []byte { return patchU32(file, good.marks["tableCount"], 1<<31) }, ErrTruncated, "table count"},
		{"ctr table size past end", func() []byte { return patchU32(file, good.marks["tableSize"], 1<<30) }, ErrTruncated, "table 0 size"},
		{"bytes after the last part", func() []byte { return append(bytes.Clone(file), 0, 0, 0, 0) }, nil, "4 bytes left after the last model part"},
		{"unknown model part", func() []byte {
			s := synthDefault()
			s.partIDs = []string{"text_processing_collection"}
			return s.build()
		}, ErrUnsupported, `model part "text_processing_collection"`},
		{"part listed twice", func() []byte {
			s := synthDefault()
			s.partIDs = []string{ctrProviderPart, ctrProviderPart}
			f := s.build()
			// a second, empty CTR part: table count 0
			return binary.LittleEndian.AppendUint32(f, 0)
		}, nil, "appears twice"},
		{"text features", func() []byte { s := synthDefault(); s.textFeatures = 1; return s.build() }, ErrUnsupported, "1 TextFeatures"},
		{"embedding features", func() []byte { s := synthDefault(); s.embedding = 2; return s.build() }, ErrUnsupported, "2 EmbeddingFeatures"},
		{"estimated features", func() []byte { s := synthDefault(); s.estimated = 1; return s.build() }, ErrUnsupported, "1 EstimatedFeatures"},
		{"unknown ctr type", func() []byte { s := synthDefault(); s.ctrType = 9; return s.build() }, ErrUnsupported, "unknown CTR type 9"},
		{"wrong format version", func() []byte { s := synthDefault(); s.version = "FlatbuffersModel_v2"; return s.build() }, nil, `format version "FlatbuffersModel_v2"`},
		{"absurd approx dimension", func() []byte { s := synthDefault(); s.dim = 1 << 30; return s.build() }, nil, "approx dimension 1073741824"},
		{"oblivious depth 17", func() []byte { s := synthDefault(); s.treeDepths = []int32{17, 1}; return s.build() }, nil, "tree depth 17"},
		{"tree split past the bin features", func() []byte {
			s := synthDefault()
			s.treeSplits = []int32{0, 9001, 3}
			return s.build()
		}, nil, "bin feature 9001 out of range (have 5)"},
		{"non-symmetric child past the tree", func() []byte {
			s := synthDefault()
			s.nonsym = true
			f := s.build()
			out := bytes.Clone(f)
			binary.LittleEndian.PutUint16(out[s.marks["StepNodes"]+4+2:], 200) // node 0 right diff
			return out
		}, nil, "tree 0 node 0: child offset 200 past the tree's 2 nodes"},
		{"non-symmetric leaf offset outside", func() []byte {
			s := synthDefault()
			s.nonsym, s.leafIDs = true, []uint32{0, 7, 2}
			return s.build()
		}, nil, "tree 0 node 1: leaf offset 7 (dimension 1, 3 leaf values)"},
		{"non-symmetric trees sharing leaves", func() []byte {
			s := synthDefault()
			s.nonsym, s.leafIDs = true, []uint32{0, 1, 1}
			return s.build()
		}, nil, "tree 1 leaves start at 1, before the previous tree's end 2"},
		{"non-symmetric split without leaf", func() []byte {
			s := synthDefault()
			s.nonsym, s.leafIDs = true, []uint32{noLeafID, 1, 2}
			return s.build()
		}, nil, "tree 0 node 0: leaf offset 4294967295 invalid"},
		{"aliased borders", func() []byte {
			s := synthDefault()
			s.borders[0] = make([]float32, 200)
			for i := range s.borders[0] {
				s.borders[0][i] = float32(i)
			}
			s.sharedBorder = 100
			return s.build()
		}, nil, "overlapping references"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data()
			err := decodeErr(t, data)
			if _, err2 := DecodeCBM(data); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("DecodeCBM and Decode disagree: %v / %v", err2, err)
			}
			var ve *ValidationError
			if errors.As(err, &ve) {
				if !strings.Contains(err.Error(), c.text) {
					t.Errorf("error %q does not say %q", err, c.text)
				}
				return
			}
			wantFormatError(t, err, c.sentinel, c.text)
		})
	}
}

// TestHostileSmallFileAllocations: a file under 1 KiB that declares 2^31
// trees, borders or leaf values is refused before anything is allocated for
// them (less than 1 MiB in all).
func TestHostileSmallFileAllocations(t *testing.T) {
	good := synthDefault()
	file := good.build()
	for _, mark := range []string{"TreeSizes", "borders0", "LeafValues", "TreeSplits", "FloatFeatures", "tableCount"} {
		hostile := patchU32(file, good.marks[mark], 1<<31)
		if len(hostile) >= 1024 {
			t.Fatalf("hostile file is %d bytes", len(hostile))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Decode(hostile)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("%s: 2^31 entries decoded", mark)
		}
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("%s: %v does not wrap ErrTruncated", mark, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc >= 1<<20 {
			t.Errorf("%s: decoding allocated %d bytes, want < 1 MiB", mark, alloc)
		} else {
			t.Logf("%s: refused after allocating %d bytes: %v", mark, alloc, err)
		}
	}
}

// TestTruncatedCBM cuts real models at every length (the CTR model at every
// length around its parts and at a stride elsewhere): each prefix is an
// ErrTruncated error, never a panic or a model.
func TestTruncatedCBM(t *testing.T) {
	dir := fixtureDir(t)
	for _, c := range []struct {
		name   string
		stride int
	}{{"gocb-single-tree", 1}, {"rwg-churn-mixed", 13}} {
		file, err := os.ReadFile(filepath.Join(dir, c.name, "model.cbm"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(file)
		if err != nil {
			t.Fatal(err)
		}
		if c.name == "rwg-churn-mixed" && len(d.CtrTables) == 0 {
			t.Fatalf("%s was chosen for its CTR tables but has none", c.name)
		}
		coreEnd := 8 + int(binary.LittleEndian.Uint32(file[4:]))
		for n := 0; n < len(file); n++ {
			if c.stride > 1 && n%c.stride != 0 && n < coreEnd-64 {
				continue
			}
			_, err := Decode(file[:n])
			if err == nil {
				t.Fatalf("%s cut at %d of %d bytes decoded", c.name, n, len(file))
			}
			if n >= 4 && !errors.Is(err, ErrTruncated) {
				t.Errorf("%s cut at %d: %v does not wrap ErrTruncated", c.name, n, err)
			}
		}
	}
}

// TestTruncatedJSON cuts a JSON export at every length: each prefix is an
// error, never a panic or a model.
func TestTruncatedJSON(t *testing.T) {
	for n := range len(smallCtrJSON) {
		if _, err := Decode([]byte(smallCtrJSON[:n])); err == nil {
			t.Fatalf("JSON cut at %d of %d bytes decoded", n, len(smallCtrJSON))
		}
	}
}

func TestHostileJSON(t *testing.T) {
	const floats = `"features_info":{"float_features":[{"borders":[0.5,1.5],"feature_index":0,"flat_feature_index":0,"has_nans":false,"nan_value_treatment":"AsIs"}]}`
	const split0 = `{"border":0.5,"float_feature_index":0,"split_index":0,"split_type":"FloatFeature"}`
	cases := []struct {
		name, doc string
		sentinel  error
		text      string
	}{
		{"syntax", `{"features_info":`, ErrTruncated, "malformed JSON"},
		{"not an object", `[1,2]`, nil, "wrong JSON type"},
		{"empty", ``, ErrTruncated, "malformed JSON"},
		{"only a BOM and spaces", "\ufeff  \n", ErrTruncated, "malformed JSON"},
		{"depth 17", `{` + floats + `,"oblivious_trees":[{"leaf_values":[0],"splits":[` + strings.Repeat(split0+",", 16) + split0 + `]}]}`, nil, "depth 17"},
		{"leaf count", `{` + floats + `,"oblivious_trees":[{"leaf_values":[0,1,2],"splits":[` + split0 + `]}]}`, nil, "3 leaf values for depth 1"},
		{"split index out of range", `{` + floats + `,"oblivious_trees":[{"leaf_values":[0,1],"splits":[{"split_index":2}]}]}`, nil, "split_index 2 out of range"},
		{"redundant border disagrees", `{` + floats + `,"oblivious_trees":[{"leaf_values":[0,1],"splits":[{"border":1.5,"float_feature_index":0,"split_index":0,"split_type":"FloatFeature"}]}]}`, nil, "border disagrees"},
		{"redundant type disagrees", `{` + floats + `,"oblivious_trees":[{"leaf_values":[0,1],"splits":[{"split_index":0,"split_type":"OnlineCtr"}]}]}`, nil, "split_type OnlineCtr disagrees"},
		{"unknown split type", `{` + floats + `,"oblivious_trees":[{"leaf_values":[0,1],"splits":[{"split_index":0,"split_type":"TextFeature"}]}]}`, ErrUnsupported, `unknown split_type "TextFeature"`},
		{"both tree kinds", `{` + floats + `,"oblivious_trees":[],"trees":[]}`, nil, "both oblivious_trees and trees"},
		{"unsorted borders", `{"features_info":{"float_features":[{"borders":[1.5,0.5],"feature_index":0,"flat_feature_index":0}]},"oblivious_trees":[]}`, ErrInvalid, "not strictly ascending"},
		{"bias length", `{` + floats + `,"oblivious_trees":[{"leaf_values":[0,1],"splits":[` + split0 + `]}],"scale_and_bias":[1,[0,0]]}`, ErrInvalid, "2 values for approx dimension 1"},
		{"unknown ctr type", `{"features_info":{"categorical_features":[{"feature_index":0,"flat_feature_index":0}],"ctrs":[{"borders":[0.5],"ctr_type":"Magic","elements":[{"cat_feature_index":0,"combination_element":"cat_feature_value"}]}]},"oblivious_trees":[]}`, ErrUnsupported, `unknown CTR type "Magic"`},
		{"ctr without table", `{"features_info":{"categorical_features":[{"feature_index":0,"flat_feature_index":0}],"ctrs":[{"borders":[0.5],"ctr_type":"Counter","elements":[{"cat_feature_index":0,"combination_element":"cat_feature_value"}]}]},"oblivious_trees":[]}`, ErrInvalid, "no CTR table"},
		{"hash not a string", `{"ctr_data":{"{\"identifier\":[{\"cat_feature_index\":0,\"combination_element\":\"cat_feature_value\"}],\"type\":\"Counter\"}":{"counter_denominator":5,"hash_map":[12,3],"hash_stride":2}},"features_info":{"categorical_features":[{"feature_index":0,"flat_feature_index":0}]},"oblivious_trees":[]}`, nil, "hash is not a string"},
		{"wrong hash stride", `{"ctr_data":{"{\"identifier\":[{\"cat_feature_index\":0,\"combination_element\":\"cat_feature_value\"}],\"type\":\"Counter\"}":{"counter_denominator":5,"hash_map":["12",3,4],"hash_stride":3}},"features_info":{"categorical_features":[{"feature_index":0,"flat_feature_index":0}]},"oblivious_trees":[]}`, nil, "hash_stride 3, want 2 for Counter"},
		{"absurd hash stride", `{"ctr_data":{"{\"identifier\":[{\"cat_feature_index\":0,\"combination_element\":\"cat_feature_value\"}],\"type\":\"Borders\"}":{"counter_denominator":0,"hash_map":["12",3,4],"hash_stride":2147483647}},"features_info":{"categorical_features":[{"feature_index":0,"flat_feature_index":0}]},"oblivious_trees":[]}`, nil, "hash_stride 2147483647"},
		{"nested non-symmetric leaf dims", `{` + floats + `,"trees":[{"left":{"value":1},"right":{"value":[1,2]},"split":` + split0 + `}]}`, nil, "2 values, other leaves have 1"},
		{"split node with one child", `{` + floats + `,"trees":[{"left":{"value":1},"split":` + split0 + `}]}`, nil, "split node without both children"},
		{"duplicate flat index", `{"features_info":{"float_features":[{"borders":[],"feature_index":0,"flat_feature_index":1},{"borders":[],"feature_index":1,"flat_feature_index":1}]},"oblivious_trees":[]}`, ErrInvalid, "flat index 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := decodeErr(t, []byte(c.doc))
			if errors.Is(c.sentinel, ErrInvalid) {
				var ve *ValidationError
				if !errors.As(err, &ve) || !strings.Contains(err.Error(), c.text) {
					t.Errorf("error %q: want a *ValidationError saying %q", err, c.text)
				}
				return
			}
			wantFormatError(t, err, c.sentinel, c.text)
		})
	}
}

// TestGzipBounds: gzip input is decompressed under a bound relative to its
// size, and a cut gzip stream is ErrTruncated.
func TestGzipBounds(t *testing.T) {
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 17 { // 17 MiB of zeros (about 17 KiB compressed) pass the 16 MiB allowance
		zw.Write(zeros)
	}
	zw.Close()
	err := decodeErr(t, bomb.Bytes())
	wantFormatError(t, err, nil, "decompresses to more than")

	var small bytes.Buffer
	zw = gzip.NewWriter(&small)
	zw.Write([]byte(`{"features_info":{},"oblivious_trees":[]}`))
	zw.Close()
	if _, err := Decode(small.Bytes()); err != nil {
		t.Fatalf("small gzipped model: %v", err)
	}
	cut := small.Bytes()[:small.Len()-6]
	wantFormatError(t, decodeErr(t, cut), ErrTruncated, "")
}

// TestValidateRejects breaks valid definitions one invariant at a time; each
// must give a *ValidationError (ErrInvalid) that says what and where.
func TestValidateRejects(t *testing.T) {
	oblivious := func() *Definition {
		d, err := Decode(synthDefault().build())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	nonsym := func() *Definition {
		d, err := DecodeJSON([]byte(smallCtrJSON))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		name    string
		base    func() *Definition
		breakIt func(d *Definition)
		text    string
	}{
		{"dimension 0", oblivious, func(d *Definition) { d.ApproxDimension = 0 }, "approx dimension 0"},
		{"bias length", oblivious, func(d *Definition) { d.Bias = nil }, "bias: 0 values for approx dimension 1"},
		{"NaN scale", oblivious, func(d *Definition) { d.Scale = math.NaN() }, "scale: NaN is not finite"},
		{"float index", oblivious, func(d *Definition) { d.FloatFeatures[1].Index = 5 }, "float feature 1: index 5, want its position 1"},
		{"flat index twice", oblivious, func(d *Definition) { d.CatFeatures[0].FlatIndex = 0 }, "categorical feature 0: flat index 0 used twice"},
		{"flat index range", oblivious, func(d *Definition) { d.FloatFeatures[0].FlatIndex = 7 }, "flat index 7 out of range (have 3 features)"},
		{"NaN border", oblivious, func(d *Definition) { d.FloatFeatures[0].Borders[1] = float32(math.NaN()) }, "float feature 0: border 1 is NaN"},
		{"unsorted borders", oblivious, func(d *Definition) { d.FloatFeatures[0].Borders[0] = 3 }, "border 1 (0.5) after 3"},
		{"one-hot on a missing feature", oblivious, func(d *Definition) {
			d.OneHotFeatures = []OneHotFeature{{CatIndex: 4, Values: []int32{1}}}
		}, "one-hot feature 0: categorical feature 4 out of range (have 1)"},
		{"one-hot without values", oblivious, func(d *Definition) {
			d.OneHotFeatures = []OneHotFeature{{CatIndex: 0}}
		}, "one-hot feature 0: no values"},
		{"projection on an unused feature", oblivious, func(d *Definition) { d.CatFeatures[0].Used = false }, "categorical feature 0 is read but marked unused"},
		{"ctr without table", oblivious, func(d *Definition) { d.CtrTables = nil }, "ctr 0: no CTR table for its projection and type Borders"},
		{"target border index", oblivious, func(d *Definition) { d.Ctrs[0].TargetBorderIdx = 2 }, "ctr 0: target border index 2, table 0 has 2 target classes"},
		{"infinite prior", oblivious, func(d *Definition) { d.Ctrs[0].PriorDenom = float32(math.Inf(1)) }, "ctr 0: prior, shift or scale +Inf"},
		{"two tables for a base", oblivious, func(d *Definition) { d.CtrTables = append(d.CtrTables, d.CtrTables[0]) }, "ctr table 1: same projection and type as table 0"},
		{"counters not per class", oblivious, func(d *Definition) { d.CtrTables[0].Counters = []int32{1, 2, 3} }, "3 counters is not a multiple of 2 target classes"},
		{"hash past the counters", oblivious, func(d *Definition) { d.CtrTables[0].Index[99] = 1 }, "hash 99 maps to counter index 1 (have 1)"},
		{"reserved hash", oblivious, func(d *Definition) { d.CtrTables[0].Index[emptyBucketHash] = 0 }, "is reserved for empty buckets"},
		{"splits not the bin features", oblivious, func(d *Definition) { d.Splits[1].Border = 0.75 }, "split 1: float feature 0 > 0.75, the features define float feature 0 > 0.5 here"},
		{"tree split out of range", oblivious, func(d *Definition) { d.Oblivious[1].Splits[0] = 9001 }, "tree 1 split 0: bin feature 9001 out of range (have 5)"},
		{"leaf count", oblivious, func(d *Definition) { d.Oblivious[0].LeafValues = d.Oblivious[0].LeafValues[:3] }, "tree 0: 3 leaf values, want 2^2 × 1 = 4"},
		{"depth 17", oblivious, func(d *Definition) { d.Oblivious[0].Splits = make([]int, 17) }, "tree 0: depth 17 (max 16)"},
		{"NaN leaf", oblivious, func(d *Definition) { d.Oblivious[1].LeafValues[1] = math.NaN() }, "tree 1: leaf value 1 is NaN"},
		// found by fuzzing: WriteJSON then wrote NaN, which is not JSON
		{"infinite leaf weight", oblivious, func(d *Definition) { d.Oblivious[1].LeafWeights = []float64{1, math.Inf(-1)} }, "tree 1: leaf weight 1 is -Inf"},
		{"both tree kinds", oblivious, func(d *Definition) { d.Trees = nonsym().Trees }, "both 2 oblivious and 2 non-symmetric trees"},
		{"child past the tree", nonsym, func(d *Definition) { d.Trees[0].Nodes[2].Right = 3 }, "tree 0 node 2: child offset 3 past the tree's 5 nodes"},
		{"two parents", nonsym, func(d *Definition) { d.Trees[0].Nodes[0].Right = 1 }, "tree 0 node 0: node 1 has two parents"},
		{"unreachable node", nonsym, func(d *Definition) { d.Trees[0].Nodes[2].Left = 0; d.Trees[0].Nodes[2].LeafOffset = 0 }, "tree 0 node 3: unreachable"},
		{"leaf offset outside", nonsym, func(d *Definition) { d.Trees[0].Nodes[4].LeafOffset = 3 }, "tree 0 node 4: leaf offset 3 invalid"},
		{"stop without leaf", nonsym, func(d *Definition) { d.Trees[0].Nodes[1].LeafOffset = NoLeaf }, "tree 0 node 1: leaf offset 4294967295 invalid"},
		{"node split out of range", nonsym, func(d *Definition) { d.Trees[0].Nodes[2].Split = 3 }, "tree 0 node 2: bin feature 3 out of range (have 3)"},
		{"too deep", nonsym, func(d *Definition) {
			n := maxNonSymmetricDepth + 2
			tr := Tree{Nodes: make([]Node, n), LeafValues: make([]float64, n)}
			for k := range tr.Nodes {
				tr.Nodes[k] = Node{Left: 1, LeafOffset: uint32(k)}
			}
			tr.Nodes[n-1].Left = 0
			d.Trees[1] = tr
		}, "tree 1 node 64: deeper than 64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := c.base()
			if err := d.Validate(); err != nil {
				t.Fatalf("base definition invalid: %v", err)
			}
			c.breakIt(d)
			err := d.Validate()
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Errorf("error %q does not say %q", err, c.text)
			}
			if err := writeJSON(d, io.Discard); !errors.Is(err, ErrInvalid) {
				t.Errorf("WriteJSON of an invalid definition: %v", err)
			}
		})
	}
}
