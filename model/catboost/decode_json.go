package catboost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The JSON export (spec §1). Decoding goes through encoding/json into the
// structs below, then into a Definition: splits are resolved through the
// bin-feature list (§5.4) by split_index alone, with the redundant split
// fields checked against it; ctr_data tables are matched to CTRs by their
// base (projection and type).

type jsonDoc struct {
	CtrData        map[string]jsonCtrTable    `json:"ctr_data"`
	FeaturesInfo   jsonFeaturesInfo           `json:"features_info"`
	ModelInfo      map[string]json.RawMessage `json:"model_info"`
	ObliviousTrees *[]jsonObliviousTree       `json:"oblivious_trees"`
	Trees          *[]*jsonNode               `json:"trees"`
	ScaleAndBias   []json.RawMessage          `json:"scale_and_bias"`
}

type jsonFeaturesInfo struct {
	FloatFeatures []jsonFloatFeature `json:"float_features"`
	CatFeatures   []jsonCatFeature   `json:"categorical_features"`
	Ctrs          []jsonCtr          `json:"ctrs"`
}

type jsonFloatFeature struct {
	Index        *int      `json:"feature_index"`
	FlatIndex    *int      `json:"flat_feature_index"`
	Borders      []float32 `json:"borders"`
	HasNans      bool      `json:"has_nans"`
	NanTreatment string    `json:"nan_value_treatment"`
	ID           string    `json:"feature_id"`
}

type jsonCatFeature struct {
	Index        *int     `json:"feature_index"`
	FlatIndex    *int     `json:"flat_feature_index"`
	ID           string   `json:"feature_id"`
	Values       []int32  `json:"values"`
	StringValues []string `json:"string_values"`
}

type jsonCtr struct {
	Identifier      string        `json:"identifier"`
	Elements        []jsonElement `json:"elements"`
	Type            string        `json:"ctr_type"`
	PriorNum        *float32      `json:"prior_numerator"`
	PriorDenom      *float32      `json:"prior_denomerator"` // sic
	Shift           *float32      `json:"shift"`
	Scale           *float32      `json:"scale"`
	TargetBorderIdx int           `json:"target_border_idx"`
	Borders         []float32     `json:"borders"`
}

// jsonElement is one element of a CTR projection (combination_element).
type jsonElement struct {
	Kind       string   `json:"combination_element"`
	CatIndex   *int     `json:"cat_feature_index"`
	FloatIndex *int     `json:"float_feature_index"`
	Border     *float32 `json:"border"`
	Value      *int32   `json:"value"`
}

// jsonIdentifier is a CTR base identifier: the ctr_data key.
type jsonIdentifier struct {
	Elements []jsonElement `json:"identifier"`
	Type     string        `json:"type"`
}

type jsonCtrTable struct {
	HashMap            []json.RawMessage `json:"hash_map"`
	HashStride         int               `json:"hash_stride"`
	CounterDenominator int32             `json:"counter_denominator"`
}

type jsonObliviousTree struct {
	LeafValues  []float64   `json:"leaf_values"`
	LeafWeights []float64   `json:"leaf_weights"`
	Splits      []jsonSplit `json:"splits"`
}

type jsonSplit struct {
	Index              *int     `json:"split_index"`
	Type               string   `json:"split_type"`
	FloatIndex         *int     `json:"float_feature_index"`
	CatIndex           *int     `json:"cat_feature_index"`
	Border             *float32 `json:"border"`
	Value              *int32   `json:"value"`
	CtrTargetBorderIdx *int     `json:"ctr_target_border_idx"`
}

// jsonNode is a node of a non-symmetric tree: a split with two children, or
// a leaf with a value (a number, or an array when the dimension is > 1).
type jsonNode struct {
	Split  *jsonSplit      `json:"split"`
	Left   *jsonNode       `json:"left"`
	Right  *jsonNode       `json:"right"`
	Value  json.RawMessage `json:"value"`
	Weight *float64        `json:"weight"`
}

// ctrTypeNames are the CatBoost names of the CTR types, by CtrType value.
var ctrTypeNames = [...]string{
	CtrBorders:                  "Borders",
	CtrBuckets:                  "Buckets",
	CtrBinarizedTargetMeanValue: "BinarizedTargetMeanValue",
	CtrFloatTargetMeanValue:     "FloatTargetMeanValue",
	CtrCounter:                  "Counter",
	CtrFeatureFreq:              "FeatureFreq",
}

// ctrTypeName returns CatBoost's name of t.
func ctrTypeName(t CtrType) string {
	if int(t) < len(ctrTypeNames) {
		return ctrTypeNames[t]
	}
	return fmt.Sprintf("CtrType(%d)", uint8(t))
}

func parseCtrType(s string) (CtrType, bool) {
	for i, n := range ctrTypeNames {
		if n == s {
			return CtrType(i), true
		}
	}
	return 0, false
}

var nanTreatmentNames = [...]string{NanAsIs: "AsIs", NanAsFalse: "AsFalse", NanAsTrue: "AsTrue"}

// maxJSONHashStride bounds hash_stride (1 + target classes).
const maxJSONHashStride = 1 << 16

// DecodeJSON decodes CatBoost's JSON export, gzip-compressed or not,
// including the old layout without scale_and_bias (scale 1, bias 0). The
// result has passed Validate.
func DecodeJSON(data []byte) (*Definition, error) {
	if bytes.HasPrefix(data, gzipMagic) {
		text, err := gunzip(data)
		if err != nil {
			return nil, err
		}
		return decodeJSON(text, FormatJSONGzip)
	}
	return decodeJSON(data, FormatJSON)
}

func decodeJSON(data []byte, format Format) (*Definition, error) {
	dec := &jsonDecoder{format: format}
	d, err := dec.decode(trimJSONStart(data))
	if err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("catboost %s model: %w", format, err)
	}
	return d, nil
}

type jsonDecoder struct {
	format Format
}

func (j *jsonDecoder) errf(path string, sentinel error, format string, args ...any) *FormatError {
	return &FormatError{Format: j.format, Offset: -1, Path: path, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

func (j *jsonDecoder) decode(data []byte) (*Definition, error) {
	var doc jsonDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		fe := &FormatError{Format: j.format, Offset: -1, Reason: "malformed JSON", Err: err}
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			fe.Offset = syn.Offset
			if syn.Offset >= int64(len(data)) {
				fe.Err = fmt.Errorf("%w: %w", ErrTruncated, err)
			}
		case errors.As(err, &typ):
			fe.Offset, fe.Path, fe.Reason = typ.Offset, typ.Field, "wrong JSON type"
		}
		return nil, fe
	}
	if doc.ObliviousTrees != nil && doc.Trees != nil {
		return nil, j.errf("", nil, "has both oblivious_trees and trees")
	}
	if doc.ObliviousTrees == nil && doc.Trees == nil {
		// CatBoost always writes one of them (an empty array for a model
		// without trees); another library's JSON model must not load as an
		// empty CatBoost model.
		return nil, j.errf("", nil, "not a CatBoost model: neither oblivious_trees nor trees")
	}
	d := &Definition{}
	if err := j.features(&doc.FeaturesInfo, d); err != nil {
		return nil, err
	}
	if err := j.ctrs(&doc, d); err != nil {
		return nil, err
	}
	markUsedCats(d)
	d.Splits = d.BinFeatures()
	var err error
	switch {
	case doc.ObliviousTrees != nil:
		err = j.oblivious(*doc.ObliviousTrees, d)
	case doc.Trees != nil:
		err = j.nonSymmetric(*doc.Trees, d)
	}
	if err != nil {
		return nil, err
	}
	if err := j.scaleAndBias(doc.ScaleAndBias, d); err != nil {
		return nil, err
	}
	if d.Info, err = j.info(doc.ModelInfo); err != nil {
		return nil, err
	}
	return d, nil
}

func (j *jsonDecoder) features(fi *jsonFeaturesInfo, d *Definition) error {
	for i, f := range fi.FloatFeatures {
		path := fmt.Sprintf("features_info.float_features[%d]", i)
		if f.Index == nil || f.FlatIndex == nil {
			return j.errf(path, nil, "feature_index or flat_feature_index missing")
		}
		nan := NanAsIs
		if f.NanTreatment != "" {
			k := slices.Index(nanTreatmentNames[:], f.NanTreatment)
			if k < 0 {
				return j.errf(path+".nan_value_treatment", nil, "unknown NaN treatment %q", f.NanTreatment)
			}
			nan = NanTreatment(k)
		}
		d.FloatFeatures = append(d.FloatFeatures, FloatFeature{
			Index: *f.Index, FlatIndex: *f.FlatIndex, Name: f.ID,
			Borders: nilIfEmpty(f.Borders), HasNans: f.HasNans, NanTreatment: nan,
		})
	}
	for i, c := range fi.CatFeatures {
		path := fmt.Sprintf("features_info.categorical_features[%d]", i)
		if c.Index == nil || c.FlatIndex == nil {
			return j.errf(path, nil, "feature_index or flat_feature_index missing")
		}
		d.CatFeatures = append(d.CatFeatures, CatFeature{Index: *c.Index, FlatIndex: *c.FlatIndex, Name: c.ID})
		if len(c.Values) > 0 {
			d.OneHotFeatures = append(d.OneHotFeatures, OneHotFeature{CatIndex: *c.Index, Values: c.Values, StringValues: nilIfEmpty(c.StringValues)})
		} else if len(c.StringValues) > 0 {
			return j.errf(path+".string_values", nil, "%d string values without values", len(c.StringValues))
		}
	}
	return nil
}

// markUsedCats sets CatFeature.Used: the JSON export has no UsedInModel
// flag, so a categorical feature is used when a one-hot feature or a CTR
// projection reads it (what CatBoost records in .cbm files).
func markUsedCats(d *Definition) {
	use := func(i int) {
		if i >= 0 && i < len(d.CatFeatures) {
			d.CatFeatures[i].Used = true
		}
	}
	for _, o := range d.OneHotFeatures {
		use(o.CatIndex)
	}
	proj := func(p *Projection) {
		for _, c := range p.CatFeatures {
			use(c)
		}
		for _, s := range p.OneHotSplits {
			use(s.CatIndex)
		}
	}
	for i := range d.Ctrs {
		proj(&d.Ctrs[i].Base.Projection)
	}
	for i := range d.CtrTables {
		proj(&d.CtrTables[i].Base.Projection)
	}
}

// projection converts a list of combination elements.
func (j *jsonDecoder) projection(path string, elems []jsonElement) (Projection, error) {
	var p Projection
	for k, e := range elems {
		epath := fmt.Sprintf("%s[%d]", path, k)
		switch e.Kind {
		case "cat_feature_value":
			if e.CatIndex == nil {
				return p, j.errf(epath, nil, "cat_feature_index missing")
			}
			p.CatFeatures = append(p.CatFeatures, *e.CatIndex)
		case "float_feature":
			if e.FloatIndex == nil || e.Border == nil {
				return p, j.errf(epath, nil, "float_feature_index or border missing")
			}
			p.FloatSplits = append(p.FloatSplits, FloatSplit{FloatIndex: *e.FloatIndex, Border: *e.Border})
		case "cat_feature_exact_value":
			if e.CatIndex == nil || e.Value == nil {
				return p, j.errf(epath, nil, "cat_feature_index or value missing")
			}
			p.OneHotSplits = append(p.OneHotSplits, OneHotSplit{CatIndex: *e.CatIndex, Value: *e.Value})
		default:
			return p, j.errf(epath, ErrUnsupported, "unknown combination element %q", e.Kind)
		}
	}
	return p, nil
}

func (j *jsonDecoder) base(path string, elems []jsonElement, typ string) (CtrBase, error) {
	var b CtrBase
	t, ok := parseCtrType(typ)
	if !ok {
		return b, j.errf(path, ErrUnsupported, "unknown CTR type %q", typ)
	}
	b.Type = t
	var err error
	b.Projection, err = j.projection(path, elems)
	return b, err
}

func (j *jsonDecoder) ctrs(doc *jsonDoc, d *Definition) error {
	for i, c := range doc.FeaturesInfo.Ctrs {
		path := fmt.Sprintf("features_info.ctrs[%d]", i)
		base, err := j.base(path+".elements", c.Elements, c.Type)
		if err != nil {
			return err
		}
		if c.Identifier != "" {
			id, err := j.identifier(path+".identifier", c.Identifier)
			if err != nil {
				return err
			}
			if ctrBaseKey(&id) != ctrBaseKey(&base) {
				return j.errf(path+".identifier", nil, "identifier %s disagrees with elements and ctr_type %s", c.Identifier, ctrBaseKey(&base))
			}
		}
		ctr := Ctr{Base: base, TargetBorderIdx: c.TargetBorderIdx, PriorDenom: 1, Scale: 1, Borders: nilIfEmpty(c.Borders)}
		for _, v := range []struct {
			dst *float32
			src *float32
		}{{&ctr.PriorNum, c.PriorNum}, {&ctr.PriorDenom, c.PriorDenom}, {&ctr.Shift, c.Shift}, {&ctr.Scale, c.Scale}} {
			if v.src != nil {
				*v.dst = *v.src
			}
		}
		d.Ctrs = append(d.Ctrs, ctr)
	}
	// Tables: those the CTRs use in order of first use, then any others by key.
	type keyed struct {
		key   string
		raw   string
		table jsonCtrTable
		base  CtrBase
	}
	byKey := make(map[string]*keyed, len(doc.CtrData))
	for raw, t := range doc.CtrData {
		base, err := j.identifier("ctr_data", raw)
		if err != nil {
			return err
		}
		k := &keyed{key: ctrBaseKey(&base), raw: raw, table: t, base: base}
		if prev, dup := byKey[k.key]; dup {
			return j.errf("ctr_data", nil, "keys %s and %s name the same CTR base", prev.raw, raw)
		}
		byKey[k.key] = k
	}
	var order []*keyed
	for i := range d.Ctrs {
		k := ctrBaseKey(&d.Ctrs[i].Base)
		if t, ok := byKey[k]; ok {
			order = append(order, t)
			delete(byKey, k)
		}
	}
	rest := make([]*keyed, 0, len(byKey))
	for _, t := range byKey {
		rest = append(rest, t)
	}
	slices.SortFunc(rest, func(a, b *keyed) int { return strings.Compare(a.key, b.key) })
	for _, t := range append(order, rest...) {
		ct, err := j.table("ctr_data."+t.raw, t.base, &t.table)
		if err != nil {
			return err
		}
		d.CtrTables = append(d.CtrTables, ct)
	}
	return nil
}

// identifier parses a CTR base identifier (a ctr_data key).
func (j *jsonDecoder) identifier(path, s string) (CtrBase, error) {
	var id jsonIdentifier
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&id); err != nil {
		return CtrBase{}, j.errf(path, nil, "bad CTR identifier %q", s).withErr(err)
	}
	return j.base(path, id.Elements, id.Type)
}

func (e *FormatError) withErr(err error) *FormatError {
	e.Err = err
	return e
}

// table converts one ctr_data entry: hash_map holds groups of hash_stride
// items, a decimal-string hash and its counters. The entry with the
// empty-bucket hash 2^64-1 is an export artefact (spec §6 item 7) and is
// skipped; the others get counter indexes 0..n-1 in file order.
func (j *jsonDecoder) table(path string, base CtrBase, t *jsonCtrTable) (CtrTable, error) {
	ct := CtrTable{Base: base, CounterDenominator: t.CounterDenominator}
	stride := t.HashStride
	var want int
	switch base.Type {
	case CtrBinarizedTargetMeanValue, CtrFloatTargetMeanValue:
		want = 3
	case CtrCounter, CtrFeatureFreq:
		want = 2
	default:
		if stride < 2 || stride > maxJSONHashStride {
			return ct, j.errf(path+".hash_stride", nil, "hash_stride %d (want 2 to %d)", stride, maxJSONHashStride)
		}
		want = stride
		ct.TargetClassesCount = stride - 1
	}
	if stride != want {
		return ct, j.errf(path+".hash_stride", nil, "hash_stride %d, want %d for %s", stride, want, ctrTypeName(base.Type))
	}
	if len(t.HashMap)%stride != 0 {
		return ct, j.errf(path+".hash_map", nil, "%d items is not a whole number of groups of %d", len(t.HashMap), stride)
	}
	groups := len(t.HashMap) / stride
	ct.Index = make(map[uint64]uint32, groups)
	for g := range groups {
		item := t.HashMap[g*stride : (g+1)*stride]
		gpath := fmt.Sprintf("%s.hash_map[%d]", path, g*stride)
		var hs string
		if err := json.Unmarshal(item[0], &hs); err != nil {
			return ct, j.errf(gpath, nil, "hash is not a string: %s", item[0])
		}
		h, err := strconv.ParseUint(hs, 10, 64)
		if err != nil {
			return ct, j.errf(gpath, nil, "hash %q is not a 64-bit decimal", hs)
		}
		if h == emptyBucketHash {
			continue
		}
		if _, dup := ct.Index[h]; dup {
			return ct, j.errf(gpath, nil, "hash %d appears twice", h)
		}
		idx := len(ct.Index)
		ct.Index[h] = uint32(idx)
		if isMeanCtr(base.Type) {
			sum, err := strconv.ParseFloat(string(item[1]), 32)
			if err != nil {
				return ct, j.errf(gpath, nil, "mean sum %s: %v", item[1], err)
			}
			count, err := parseInt32(item[2])
			if err != nil {
				return ct, j.errf(gpath, nil, "mean count %s: %v", item[2], err)
			}
			ct.Means = append(ct.Means, MeanHistory{Sum: float32(sum), Count: count})
			continue
		}
		for _, raw := range item[1:] {
			v, err := parseInt32(raw)
			if err != nil {
				return ct, j.errf(gpath, nil, "counter %s: %v", raw, err)
			}
			ct.Counters = append(ct.Counters, v)
		}
	}
	return ct, nil
}

// nilIfEmpty makes empty and absent lists alike (nil), as the .cbm decoder
// leaves them.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func parseInt32(raw []byte) (int32, error) {
	v, err := strconv.ParseInt(string(raw), 10, 32)
	return int32(v), err
}

func (j *jsonDecoder) scaleAndBias(raw []json.RawMessage, d *Definition) error {
	if d.ApproxDimension == 0 { // no trees: the bias says the dimension
		d.ApproxDimension = 1
	}
	if raw == nil { // the old layout: no scale_and_bias
		d.Scale = 1
		d.Bias = make([]float64, d.ApproxDimension)
		return nil
	}
	if len(raw) != 2 {
		return j.errf("scale_and_bias", nil, "%d items, want [scale, [bias...]]", len(raw))
	}
	if err := json.Unmarshal(raw[0], &d.Scale); err != nil {
		return j.errf("scale_and_bias[0]", nil, "bad scale").withErr(err)
	}
	if err := json.Unmarshal(raw[1], &d.Bias); err != nil {
		return j.errf("scale_and_bias[1]", nil, "bad bias").withErr(err)
	}
	if len(d.Oblivious) == 0 && len(d.Trees) == 0 && len(d.Bias) > 0 {
		d.ApproxDimension = len(d.Bias)
	}
	return nil
}

// info keeps model_info strings as they are and other values (the *params
// objects) as their canonical JSON text (see CanonicalJSON).
func (j *jsonDecoder) info(mi map[string]json.RawMessage) (map[string]string, error) {
	if len(mi) == 0 {
		return nil, nil
	}
	info := make(map[string]string, len(mi))
	for k, raw := range mi {
		var s string
		if len(raw) > 0 && raw[0] == '"' {
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, j.errf("model_info."+k, nil, "bad string").withErr(err)
			}
		} else {
			var err error
			if s, err = CanonicalJSON(raw); err != nil {
				return nil, j.errf("model_info."+k, nil, "bad value").withErr(err)
			}
		}
		info[k] = s
	}
	return info, nil
}

// CanonicalJSON returns the compact text of a JSON value with object keys
// sorted at every level, numbers and strings kept as written: the form
// CatBoost's writer (SortKeys) gives the *params values of model_info, in
// which Definition.Info holds them.
func CanonicalJSON(raw []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	if dec.More() {
		return "", errors.New("text after the JSON value")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
