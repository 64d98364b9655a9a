package catboost

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// The .cbm layout (spec §5): "CBM1", SaveSize(core size), the TModelCore
// flatbuffer, then the model parts named in TModelCore.ModelPartIds. The only
// supported part is the static CTR provider: SaveSize(table count), then per
// table SaveSize(size) and a TCtrValueTable flatbuffer.

const (
	cbmFormatVersion = "FlabuffersModel_v1"
	ctrProviderPart  = "static_provider_v1"
	// maxFlatbuffer is the largest flatbuffer the format allows (2 GiB - 1).
	maxFlatbuffer = math.MaxInt32
	// maxObliviousDepth is the deepest symmetric tree CatBoost trains.
	maxObliviousDepth = 16
	// emptyBucketHash marks an unused slot of a CTR table's hash index.
	emptyBucketHash = ^uint64(0)
	// noLeafID marks a non-symmetric node that is never a leaf.
	noLeafID = ^uint32(0)
)

// cbmReader walks the top level of a .cbm file.
type cbmReader struct {
	data []byte
	pos  int
}

func (r *cbmReader) errf(sentinel error, path, format string, args ...any) *FormatError {
	return &FormatError{Format: FormatCBM, Offset: int64(r.pos), Path: path, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// size reads a SaveSize value (ui32, or 0xFFFFFFFF then ui64) and checks
// that at least minPer×value bytes remain after it.
func (r *cbmReader) size(path string, minPer int) (int, error) {
	if len(r.data)-r.pos < 4 {
		return 0, r.errf(ErrTruncated, path, "size field needs 4 bytes, %d left", len(r.data)-r.pos)
	}
	v := uint64(binary.LittleEndian.Uint32(r.data[r.pos:]))
	r.pos += 4
	if v == 0xFFFFFFFF {
		if len(r.data)-r.pos < 8 {
			return 0, r.errf(ErrTruncated, path, "64-bit size field needs 8 bytes, %d left", len(r.data)-r.pos)
		}
		v = binary.LittleEndian.Uint64(r.data[r.pos:])
		r.pos += 8
	}
	left := uint64(len(r.data) - r.pos)
	switch {
	case minPer == 1 && v > left:
		return 0, r.errf(ErrTruncated, path, "declares %d bytes, only %d left", v, left)
	case minPer > 1 && v > left/uint64(minPer):
		return 0, r.errf(ErrTruncated, path, "declares %d entries of at least %d bytes, only %d bytes left", v, minPer, left)
	}
	return int(v), nil
}

// DecodeCBM decodes CatBoost's binary model format. The result has passed
// Validate.
func DecodeCBM(data []byte) (*Definition, error) {
	d, err := decodeCBM(data)
	if err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("catboost cbm model: %w", err)
	}
	return d, nil
}

func decodeCBM(data []byte) (*Definition, error) {
	r := &cbmReader{data: data}
	if !bytes.HasPrefix(data, cbmMagic) {
		if len(data) < len(cbmMagic) && bytes.HasPrefix(cbmMagic, data) {
			return nil, r.errf(ErrTruncated, "magic", "file of %d bytes ends inside the magic", len(data))
		}
		return nil, r.errf(nil, "magic", "file does not start with %q", cbmMagic)
	}
	r.pos = len(cbmMagic)
	coreSize, err := r.size("core size", 1)
	if err != nil {
		return nil, err
	}
	if coreSize > maxFlatbuffer {
		return nil, r.errf(nil, "core size", "core flatbuffer of %d bytes exceeds the 2 GiB flatbuffer limit", coreSize)
	}
	core := newFBBuffer(data[r.pos:r.pos+coreSize], int64(r.pos))
	r.pos += coreSize
	d, partIDs, err := decodeCore(core)
	if err != nil {
		return nil, err
	}
	seen := false
	for i, id := range partIDs {
		path := fmt.Sprintf("ModelPartIds[%d]", i)
		if id != ctrProviderPart {
			return nil, r.errf(ErrUnsupported, path, "model part %q (only %q is supported)", id, ctrProviderPart)
		}
		if seen {
			return nil, r.errf(nil, path, "model part %q appears twice", id)
		}
		seen = true
		if d.CtrTables, err = r.ctrTables(); err != nil {
			return nil, err
		}
	}
	if r.pos != len(data) {
		return nil, r.errf(nil, "", "%d bytes left after the last model part", len(data)-r.pos)
	}
	return d, nil
}

// ctrTables reads the static_provider_v1 part.
func (r *cbmReader) ctrTables() ([]CtrTable, error) {
	n, err := r.size(ctrProviderPart+" table count", 4)
	if err != nil {
		return nil, err
	}
	tables := make([]CtrTable, 0, n)
	for i := range n {
		path := fmt.Sprintf("%s table %d", ctrProviderPart, i)
		size, err := r.size(path+" size", 1)
		if err != nil {
			return nil, err
		}
		if size > maxFlatbuffer {
			return nil, r.errf(nil, path, "flatbuffer of %d bytes exceeds the 2 GiB flatbuffer limit", size)
		}
		fb := newFBBuffer(r.data[r.pos:r.pos+size], int64(r.pos))
		r.pos += size
		t, err := decodeCtrTable(fb, path)
		if err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, nil
}

// decodeCore reads TModelCore: everything but the CTR tables.
func decodeCore(fb *fbBuffer) (*Definition, []string, error) {
	root, err := fb.root("TModelCore")
	if err != nil {
		return nil, nil, err
	}
	version, err := root.string(0, "FormatVersion")
	if err != nil {
		return nil, nil, err
	}
	if version != cbmFormatVersion {
		return nil, nil, fb.errf(int64(root.pos), "TModelCore.FormatVersion", nil,
			"format version %q, want %q", version, cbmFormatVersion)
	}
	trees, err := root.subTable(1, "ModelTrees")
	if err != nil {
		return nil, nil, err
	}
	if trees == nil {
		return nil, nil, fb.errf(int64(root.pos), "TModelCore.ModelTrees", nil, "missing")
	}
	d, err := decodeModelTrees(trees)
	if err != nil {
		return nil, nil, err
	}
	if d.Info, err = decodeInfoMap(root); err != nil {
		return nil, nil, err
	}
	partIDs, err := root.strings(3, "ModelPartIds")
	if err != nil {
		return nil, nil, err
	}
	return d, partIDs, nil
}

func decodeInfoMap(root *fbTable) (map[string]string, error) {
	kvs, err := root.tables(2, "InfoMap")
	if err != nil || len(kvs) == 0 {
		return nil, err
	}
	info := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, err := kv.string(0, "Key")
		if err != nil {
			return nil, err
		}
		v, err := kv.string(1, "Value")
		if err != nil {
			return nil, err
		}
		info[k] = v
	}
	return info, nil
}

// decodeModelTrees reads TModelTrees (TObliviousTrees in older files).
func decodeModelTrees(t *fbTable) (*Definition, error) {
	d := &Definition{}
	for _, u := range []struct {
		id   int
		name string
	}{{12, "TextFeatures"}, {13, "EstimatedFeatures"}, {18, "EmbeddingFeatures"}} {
		v, err := t.vector(u.id, u.name, 4)
		if err != nil {
			return nil, err
		}
		if v.n > 0 {
			return nil, t.buf.errf(int64(t.pos), v.path, ErrUnsupported,
				"model has %d %s (only float and categorical features are supported)", v.n, u.name)
		}
	}
	var err error
	if d.FloatFeatures, err = decodeFloatFeatures(t); err != nil {
		return nil, err
	}
	if d.CatFeatures, err = decodeCatFeatures(t); err != nil {
		return nil, err
	}
	if d.OneHotFeatures, err = decodeOneHotFeatures(t); err != nil {
		return nil, err
	}
	if d.Ctrs, err = decodeCtrFeatures(t); err != nil {
		return nil, err
	}
	d.Splits = d.BinFeatures()
	if err := decodeTrees(t, d); err != nil {
		return nil, err
	}
	return d, nil
}

func decodeFloatFeatures(t *fbTable) ([]FloatFeature, error) {
	fts, err := t.tables(5, "FloatFeatures")
	if err != nil || len(fts) == 0 {
		return nil, err
	}
	out := make([]FloatFeature, len(fts))
	for i, ft := range fts {
		f := &out[i]
		if f.HasNans, err = ft.bool(0, "HasNans", false); err != nil {
			return nil, err
		}
		idx, err := ft.int32(1, "Index", -1)
		if err != nil {
			return nil, err
		}
		flat, err := ft.int32(2, "FlatIndex", -1)
		if err != nil {
			return nil, err
		}
		f.Index, f.FlatIndex = int(idx), int(flat)
		if f.Borders, err = ft.float32s(3, "Borders"); err != nil {
			return nil, err
		}
		if f.Name, err = ft.string(4, "FeatureId"); err != nil {
			return nil, err
		}
		nan, err := ft.uint8(5, "NanValueTreatment", 0)
		if err != nil {
			return nil, err
		}
		if nan > uint8(NanAsTrue) {
			return nil, ft.buf.errf(int64(ft.pos), ft.path+".NanValueTreatment", nil, "unknown NaN treatment %d", nan)
		}
		f.NanTreatment = NanTreatment(nan)
	}
	return out, nil
}

func decodeCatFeatures(t *fbTable) ([]CatFeature, error) {
	cts, err := t.tables(4, "CatFeatures")
	if err != nil || len(cts) == 0 {
		return nil, err
	}
	out := make([]CatFeature, len(cts))
	for i, ct := range cts {
		c := &out[i]
		idx, err := ct.int32(0, "Index", -1)
		if err != nil {
			return nil, err
		}
		flat, err := ct.int32(1, "FlatIndex", -1)
		if err != nil {
			return nil, err
		}
		c.Index, c.FlatIndex = int(idx), int(flat)
		if c.Name, err = ct.string(2, "FeatureId"); err != nil {
			return nil, err
		}
		if c.Used, err = ct.bool(3, "UsedInModel", true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decodeOneHotFeatures(t *fbTable) ([]OneHotFeature, error) {
	ots, err := t.tables(6, "OneHotFeatures")
	if err != nil || len(ots) == 0 {
		return nil, err
	}
	out := make([]OneHotFeature, len(ots))
	for i, ot := range ots {
		o := &out[i]
		idx, err := ot.int32(0, "Index", -1)
		if err != nil {
			return nil, err
		}
		o.CatIndex = int(idx)
		if o.Values, err = ot.int32s(1, "Values"); err != nil {
			return nil, err
		}
		if o.StringValues, err = ot.strings(2, "StringValues"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decodeCtrFeatures(t *fbTable) ([]Ctr, error) {
	cts, err := t.tables(7, "CtrFeatures")
	if err != nil || len(cts) == 0 {
		return nil, err
	}
	out := make([]Ctr, len(cts))
	for i, ct := range cts {
		c := &out[i]
		mc, err := ct.subTable(0, "Ctr")
		if err != nil {
			return nil, err
		}
		if mc == nil {
			return nil, ct.buf.errf(int64(ct.pos), ct.path+".Ctr", nil, "missing")
		}
		if c.Base, err = decodeCtrBase(mc, 0, "Base"); err != nil {
			return nil, err
		}
		tbi, err := mc.int32(1, "TargetBorderIdx", 0)
		if err != nil {
			return nil, err
		}
		c.TargetBorderIdx = int(tbi)
		if c.PriorNum, err = mc.float32(2, "PriorNum", 0); err != nil {
			return nil, err
		}
		if c.PriorDenom, err = mc.float32(3, "PriorDenom", 1); err != nil {
			return nil, err
		}
		if c.Shift, err = mc.float32(4, "Shift", 0); err != nil {
			return nil, err
		}
		if c.Scale, err = mc.float32(5, "Scale", 1); err != nil {
			return nil, err
		}
		if c.Borders, err = ct.float32s(1, "Borders"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeCtrBase reads the TModelCtrBase in field id of t.
func decodeCtrBase(t *fbTable, id int, name string) (CtrBase, error) {
	var b CtrBase
	bt, err := t.subTable(id, name)
	if err != nil {
		return b, err
	}
	if bt == nil {
		return b, t.buf.errf(int64(t.pos), t.path+"."+name, nil, "missing")
	}
	typ, err := bt.uint8(1, "CtrType", uint8(CtrBorders))
	if err != nil {
		return b, err
	}
	if typ > uint8(CtrFeatureFreq) {
		return b, bt.buf.errf(int64(bt.pos), bt.path+".CtrType", ErrUnsupported, "unknown CTR type %d", typ)
	}
	b.Type = CtrType(typ)
	tbci, err := bt.int32(2, "TargetBorderClassifierIdx", 0)
	if err != nil {
		return b, err
	}
	b.TargetBorderClassifierIdx = int(tbci)
	fc, err := bt.subTable(0, "FeatureCombination")
	if err != nil || fc == nil {
		return b, err
	}
	cats, err := fc.int32s(0, "CatFeatures")
	if err != nil {
		return b, err
	}
	for _, c := range cats {
		b.Projection.CatFeatures = append(b.Projection.CatFeatures, int(c))
	}
	fs, err := fc.vector(1, "FloatSplits", 8)
	if err != nil {
		return b, err
	}
	for i := range fs.n {
		p := fs.data + uint32(8*i)
		b.Projection.FloatSplits = append(b.Projection.FloatSplits, FloatSplit{
			FloatIndex: int(int32(fs.buf.u32(p))),
			Border:     math.Float32frombits(fs.buf.u32(p + 4)),
		})
	}
	ohs, err := fc.vector(2, "OneHotSplits", 8)
	if err != nil {
		return b, err
	}
	for i := range ohs.n {
		p := ohs.data + uint32(8*i)
		b.Projection.OneHotSplits = append(b.Projection.OneHotSplits, OneHotSplit{
			CatIndex: int(int32(ohs.buf.u32(p))),
			Value:    int32(ohs.buf.u32(p + 4)),
		})
	}
	return b, nil
}

// decodeCtrTable reads one TCtrValueTable flatbuffer.
func decodeCtrTable(fb *fbBuffer, path string) (CtrTable, error) {
	var ct CtrTable
	root, err := fb.root(path)
	if err != nil {
		return ct, err
	}
	if ct.Base, err = decodeCtrBase(root, 0, "ModelCtrBase"); err != nil {
		return ct, err
	}
	raw, err := root.bytes(1, "IndexHashRaw")
	if err != nil {
		return ct, err
	}
	if len(raw)%12 != 0 {
		return ct, fb.errf(int64(root.pos), path+".IndexHashRaw", nil, "%d bytes is not a whole number of 12-byte buckets", len(raw))
	}
	used := 0
	for i := 0; i < len(raw); i += 12 {
		if binary.LittleEndian.Uint64(raw[i:]) != emptyBucketHash {
			used++
		}
	}
	ct.Index = make(map[uint64]uint32, used)
	for i := 0; i < len(raw); i += 12 {
		h := binary.LittleEndian.Uint64(raw[i:])
		if h == emptyBucketHash {
			continue
		}
		if _, dup := ct.Index[h]; dup {
			return ct, fb.errf(int64(root.pos), path+".IndexHashRaw", nil, "hash %d appears twice", h)
		}
		ct.Index[h] = binary.LittleEndian.Uint32(raw[i+8:])
	}
	blob, err := root.bytes(2, "CTRBlob")
	if err != nil {
		return ct, err
	}
	elem := 4
	if isMeanCtr(ct.Base.Type) {
		elem = 8
	}
	if len(blob)%elem != 0 {
		return ct, fb.errf(int64(root.pos), path+".CTRBlob", nil, "%d bytes is not a whole number of %d-byte counters", len(blob), elem)
	}
	if isMeanCtr(ct.Base.Type) {
		ct.Means = make([]MeanHistory, len(blob)/8)
		for i := range ct.Means {
			ct.Means[i] = MeanHistory{
				Sum:   math.Float32frombits(binary.LittleEndian.Uint32(blob[8*i:])),
				Count: int32(binary.LittleEndian.Uint32(blob[8*i+4:])),
			}
		}
	} else {
		ct.Counters = make([]int32, len(blob)/4)
		for i := range ct.Counters {
			ct.Counters[i] = int32(binary.LittleEndian.Uint32(blob[4*i:]))
		}
	}
	if ct.CounterDenominator, err = root.int32(3, "CounterDenominator", 0); err != nil {
		return ct, err
	}
	k, err := root.int32(4, "TargetClassesCount", 0)
	if err != nil {
		return ct, err
	}
	ct.TargetClassesCount = int(k)
	return ct, nil
}

func isMeanCtr(t CtrType) bool {
	return t == CtrBinarizedTargetMeanValue || t == CtrFloatTargetMeanValue
}
