package catboost

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"
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

// synthCBM describes a small .cbm file built with the google/flatbuffers Go
// builder, an independent writer of the format (it omits default-valued
// scalars and trims vtables, as CatBoost's C++ builder does). The zero value
// plus synthDefault gives a valid model: two float features, one
// categorical feature with a Borders CTR and its table, two oblivious trees.
type synthCBM struct {
	version      string
	borders      [][]float32 // per float feature
	ctrType      uint8       // the CTR's (and table's) CtrType byte
	treeDepths   []int32
	treeSplits   []int32
	leafValues   []float64
	dim          int32
	textFeatures int
	embedding    int
	estimated    int
	partIDs      []string
	sharedBorder int // float features that share feature 0's borders vector (aliasing)
	// nonsym replaces the trees by two non-symmetric ones: a root on split 3
	// with only a right child (stopping at its own leaf when false), and a
	// single leaf. leafIDs are the global leaf offsets of the three nodes.
	nonsym  bool
	leafIDs []uint32

	// set by build: file offsets of vector length fields, for patching
	marks map[string]int
}

func synthDefault() *synthCBM {
	return &synthCBM{
		version:    cbmFormatVersion,
		borders:    [][]float32{{-1, 0.5, 2}, {10}},
		treeDepths: []int32{2, 1},
		treeSplits: []int32{0, 4, 3}, // float0>-1, ctr>0.5 | float1>10
		leafValues: []float64{1, 2, 3, 4, -1, -2},
		dim:        1,
		partIDs:    []string{ctrProviderPart},
	}
}

// synthHash is the one projection hash in the synthetic CTR table.
const synthHash = uint64(0x1234567890abcdef)

func (s *synthCBM) build() []byte {
	s.marks = map[string]int{}
	b := flatbuffers.NewBuilder(0)
	type mark struct {
		name string
		off  flatbuffers.UOffsetT
	}
	var marks []mark
	f32s := func(name string, vs []float32) flatbuffers.UOffsetT {
		b.StartVector(4, len(vs), 4)
		for i := len(vs) - 1; i >= 0; i-- {
			b.PrependFloat32(vs[i])
		}
		v := b.EndVector(len(vs))
		marks = append(marks, mark{name, v})
		return v
	}
	i32s := func(name string, vs []int32) flatbuffers.UOffsetT {
		b.StartVector(4, len(vs), 4)
		for i := len(vs) - 1; i >= 0; i-- {
			b.PrependInt32(vs[i])
		}
		v := b.EndVector(len(vs))
		marks = append(marks, mark{name, v})
		return v
	}
	f64s := func(name string, vs []float64) flatbuffers.UOffsetT {
		b.StartVector(8, len(vs), 8)
		for i := len(vs) - 1; i >= 0; i-- {
			b.PrependFloat64(vs[i])
		}
		v := b.EndVector(len(vs))
		marks = append(marks, mark{name, v})
		return v
	}
	tables := func(name string, ts []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
		v := b.CreateVectorOfTables(ts)
		marks = append(marks, mark{name, v})
		return v
	}
	ctrBase := func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		b.StartVector(4, 1, 4)
		b.PrependInt32(0)
		cats := b.EndVector(1)
		b.StartObject(3)
		b.PrependUOffsetTSlot(0, cats, 0)
		comb := b.EndObject()
		b.StartObject(3)
		b.PrependUOffsetTSlot(0, comb, 0)
		b.PrependByteSlot(1, s.ctrType, 0)
		b.PrependInt32Slot(2, 1, 0) // TargetBorderClassifierIdx 1, as real binary models
		return b.EndObject()
	}

	var floats []flatbuffers.UOffsetT
	var shared flatbuffers.UOffsetT
	for i, bs := range s.borders {
		v := f32s(fmt.Sprintf("borders%d", i), bs)
		if i == 0 {
			shared = v
		}
		name := b.CreateString(fmt.Sprintf("f%d", i))
		b.StartObject(6)
		b.PrependInt32Slot(1, int32(i), -1)
		b.PrependInt32Slot(2, int32(i), -1)
		b.PrependUOffsetTSlot(3, v, 0)
		b.PrependUOffsetTSlot(4, name, 0)
		floats = append(floats, b.EndObject())
	}
	for range s.sharedBorder {
		b.StartObject(6)
		b.PrependUOffsetTSlot(3, shared, 0)
		floats = append(floats, b.EndObject())
	}
	b.StartObject(4)
	b.PrependInt32Slot(0, 0, -1)
	b.PrependInt32Slot(1, int32(len(s.borders)), -1)
	cat := b.EndObject()

	base := ctrBase(b)
	b.StartObject(6)
	b.PrependUOffsetTSlot(0, base, 0)
	b.PrependFloat32Slot(2, 0.5, 0) // PriorNum; PriorDenom 1 and Shift 0 stay default (absent)
	b.PrependFloat32Slot(5, 15, 1)
	mctr := b.EndObject()
	ctrBorders := f32s("ctrBorders", []float32{0.5})
	b.StartObject(2)
	b.PrependUOffsetTSlot(0, mctr, 0)
	b.PrependUOffsetTSlot(1, ctrBorders, 0)
	ctr := b.EndObject()

	vFloats := tables("FloatFeatures", floats)
	vCats := tables("CatFeatures", []flatbuffers.UOffsetT{cat})
	vCtrs := tables("CtrFeatures", []flatbuffers.UOffsetT{ctr})
	starts := make([]int32, len(s.treeDepths))
	for i := 1; i < len(starts); i++ {
		starts[i] = starts[i-1] + s.treeDepths[i-1]
	}
	var vSteps, vLeafIDs flatbuffers.UOffsetT
	if s.nonsym {
		s.treeDepths, starts = []int32{2, 1}, []int32{0, 2}
		s.treeSplits, s.leafValues = []int32{3, 0, 0}, []float64{1.5, 2.5, 3.5}
		if s.leafIDs == nil {
			s.leafIDs = []uint32{0, 1, 2}
		}
		steps := [][2]uint16{{0, 1}, {0, 0}, {0, 0}}
		b.StartVector(4, len(steps), 2)
		for i := len(steps) - 1; i >= 0; i-- {
			b.PrependUint16(steps[i][1])
			b.PrependUint16(steps[i][0])
		}
		vSteps = b.EndVector(len(steps))
		marks = append(marks, mark{"StepNodes", vSteps})
		b.StartVector(4, len(s.leafIDs), 4)
		for i := len(s.leafIDs) - 1; i >= 0; i-- {
			b.PrependUint32(s.leafIDs[i])
		}
		vLeafIDs = b.EndVector(len(s.leafIDs))
	}
	vSplits := i32s("TreeSplits", s.treeSplits)
	vSizes := i32s("TreeSizes", s.treeDepths)
	vStarts := i32s("TreeStartOffsets", starts)
	vLeaves := f64s("LeafValues", s.leafValues)
	vBias := f64s("MultiBias", make([]float64, min(max(s.dim, 1), 4)))
	extra := func(name string, n int) flatbuffers.UOffsetT {
		ts := make([]flatbuffers.UOffsetT, n)
		for i := range ts {
			b.StartObject(4)
			b.PrependInt32Slot(0, int32(i), -1)
			ts[i] = b.EndObject()
		}
		return tables(name, ts)
	}
	vText, vEst, vEmb := extra("TextFeatures", s.textFeatures), extra("EstimatedFeatures", s.estimated), extra("EmbeddingFeatures", s.embedding)

	b.StartObject(19)
	b.PrependInt32Slot(0, s.dim, 0)
	b.PrependUOffsetTSlot(1, vSplits, 0)
	b.PrependUOffsetTSlot(2, vSizes, 0)
	b.PrependUOffsetTSlot(3, vStarts, 0)
	b.PrependUOffsetTSlot(4, vCats, 0)
	b.PrependUOffsetTSlot(5, vFloats, 0)
	b.PrependUOffsetTSlot(7, vCtrs, 0)
	b.PrependUOffsetTSlot(8, vLeaves, 0)
	b.PrependUOffsetTSlot(10, vSteps, 0)
	b.PrependUOffsetTSlot(11, vLeafIDs, 0)
	b.PrependUOffsetTSlot(12, vText, 0)
	b.PrependUOffsetTSlot(13, vEst, 0)
	b.PrependUOffsetTSlot(16, vBias, 0)
	b.PrependUOffsetTSlot(18, vEmb, 0)
	trees := b.EndObject()

	k, v := b.CreateString("catboost_version_info"), b.CreateString("synthetic")
	b.StartObject(2)
	b.PrependUOffsetTSlot(0, k, 0)
	b.PrependUOffsetTSlot(1, v, 0)
	kv := b.EndObject()
	vInfo := tables("InfoMap", []flatbuffers.UOffsetT{kv})
	var parts []flatbuffers.UOffsetT
	for _, p := range s.partIDs {
		parts = append(parts, b.CreateString(p))
	}
	var vParts flatbuffers.UOffsetT
	if len(parts) > 0 {
		b.StartVector(4, len(parts), 4)
		for i := len(parts) - 1; i >= 0; i-- {
			b.PrependUOffsetT(parts[i])
		}
		vParts = b.EndVector(len(parts))
	}
	version := b.CreateString(s.version)
	b.StartObject(4)
	b.PrependUOffsetTSlot(0, version, 0)
	b.PrependUOffsetTSlot(1, trees, 0)
	b.PrependUOffsetTSlot(2, vInfo, 0)
	if vParts != 0 {
		b.PrependUOffsetTSlot(3, vParts, 0)
	}
	b.Finish(b.EndObject())
	core := b.FinishedBytes()

	file := append([]byte("CBM1"), binary.LittleEndian.AppendUint32(nil, uint32(len(core)))...)
	for _, m := range marks {
		s.marks[m.name] = len(file) + len(core) - int(m.off)
	}
	file = append(file, core...)
	if len(s.partIDs) > 0 && s.partIDs[0] == ctrProviderPart {
		tb := flatbuffers.NewBuilder(0)
		var raw []byte
		for i := range 4 { // 4 buckets, one used
			h, idx := emptyBucketHash, uint32(0)
			if i == 1 {
				h = synthHash
			}
			raw = binary.LittleEndian.AppendUint64(raw, h)
			raw = binary.LittleEndian.AppendUint32(raw, idx)
		}
		var blob []byte
		for _, c := range []uint32{3, 7} {
			blob = binary.LittleEndian.AppendUint32(blob, c)
		}
		vRaw, vBlob := tb.CreateByteVector(raw), tb.CreateByteVector(blob)
		tbase := ctrBase(tb)
		tb.StartObject(5)
		tb.PrependUOffsetTSlot(0, tbase, 0)
		tb.PrependUOffsetTSlot(1, vRaw, 0)
		tb.PrependUOffsetTSlot(2, vBlob, 0)
		tb.PrependInt32Slot(4, 2, 0)
		tb.Finish(tb.EndObject())
		table := tb.FinishedBytes()
		s.marks["tableCount"] = len(file)
		file = binary.LittleEndian.AppendUint32(file, 1)
		s.marks["tableSize"] = len(file)
		file = binary.LittleEndian.AppendUint32(file, uint32(len(table)))
		file = append(file, table...)
	}
	return file
}

// TestDecodeSyntheticCBM decodes a file from an independent flatbuffers
// writer and checks every field, including the defaults of omitted fields.
func TestDecodeSyntheticCBM(t *testing.T) {
	s := synthDefault()
	file := s.build()
	if len(file) >= 1024 {
		t.Fatalf("synthetic model is %d bytes, want < 1 KiB for the allocation tests", len(file))
	}
	d, err := Decode(file)
	if err != nil {
		t.Fatal(err)
	}
	base := CtrBase{Projection: Projection{CatFeatures: []int{0}}, Type: CtrBorders, TargetBorderClassifierIdx: 1}
	want := &Definition{
		FloatFeatures: []FloatFeature{
			{Index: 0, FlatIndex: 0, Name: "f0", Borders: []float32{-1, 0.5, 2}},
			{Index: 1, FlatIndex: 1, Name: "f1", Borders: []float32{10}},
		},
		CatFeatures: []CatFeature{{Index: 0, FlatIndex: 2, Used: true}},
		Ctrs:        []Ctr{{Base: base, PriorNum: 0.5, PriorDenom: 1, Scale: 15, Borders: []float32{0.5}}},
		CtrTables: []CtrTable{{Base: base, Index: map[uint64]uint32{synthHash: 0}, Counters: []int32{3, 7},
			TargetClassesCount: 2}},
		Splits: []Split{
			{Kind: SplitFloat, Feature: 0, Border: -1}, {Kind: SplitFloat, Feature: 0, Border: 0.5},
			{Kind: SplitFloat, Feature: 0, Border: 2}, {Kind: SplitFloat, Feature: 1, Border: 10},
			{Kind: SplitCtr, Feature: 0, Border: 0.5},
		},
		ApproxDimension: 1,
		Oblivious: []ObliviousTree{
			{Splits: []int{0, 4}, LeafValues: []float64{1, 2, 3, 4}},
			{Splits: []int{3}, LeafValues: []float64{-1, -2}},
		},
		Scale: 1,
		Bias:  []float64{0},
		Info:  map[string]string{"catboost_version_info": "synthetic"},
	}
	for _, diff := range compareDefinitions(want, d, definitionCompare{}) {
		t.Error(diff)
	}
}

// TestDecodeSyntheticNonSymmetricCBM checks the conversion of the global
// node arrays into per-tree nodes with tree-relative leaf offsets, including
// a node with one child (spec §5.5).
func TestDecodeSyntheticNonSymmetricCBM(t *testing.T) {
	s := synthDefault()
	s.nonsym = true
	d, err := Decode(s.build())
	if err != nil {
		t.Fatal(err)
	}
	want := []Tree{
		{Nodes: []Node{{Split: 3, Left: 0, Right: 1, LeafOffset: 0}, {Split: 0, LeafOffset: 1}}, LeafValues: []float64{1.5, 2.5}},
		{Nodes: []Node{{LeafOffset: 0}}, LeafValues: []float64{3.5}},
	}
	if !reflect.DeepEqual(d.Trees, want) || len(d.Oblivious) != 0 {
		t.Errorf("trees %+v, want %+v", d.Trees, want)
	}
	// Written as JSON, the missing left child becomes a leaf with the root's
	// own value (what CatBoost's exporter does), and the function is kept.
	var buf bytes.Buffer
	if err := writeJSON(d, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `{"left": {"value": 1.5}, "right": {"value": 2.5}, "split": {"border": 10`) {
		t.Errorf("unexpected JSON tree:\n%s", buf.String())
	}
	back, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, diff := range compareDefinitions(expectedAfterJSON(d), back, definitionCompare{nodeLayout: true}) {
		t.Error(diff)
	}
}
