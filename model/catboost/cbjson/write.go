package cbjson

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/loan-scorer/loan-scorer/model/catboost"
)

// Write writes d as CatBoost's JSON export (spec §1), readable by
// CatBoost's own JSON loader and by catboost.DecodeJSON: keys sorted at every level as
// CatBoost's writer sorts them; float32 values (borders, CTR priors, mean
// sums) in their shortest float32 form and doubles (leaves, scale, bias) in
// their shortest float64 form, both exact on reading back; 64-bit CTR hashes
// as decimal strings; every split with split_index and the redundant fields
// of its type; ctr_data keyed by the CTR base identifier; scale_and_bias;
// model_info, where values of keys ending in "params" that hold a JSON
// object are written as objects (keys sorted, like the rest); empty feature
// lists omitted.
//
// Choices where CatBoost's writer is not worth copying: ctr_data tables are
// written in key order with their entries in counter-index order, and the
// spurious empty-bucket entry CatBoost's exporter adds (spec §6 item 7) is
// not written. Leaves of non-symmetric trees get a "weight" only when the
// tree has leaf weights; a node with one child is written, as CatBoost
// does, with a leaf holding the node's own value in place of the missing
// child. The JSON format cannot carry TargetBorderClassifierIdx or the
// UsedInModel flag of categorical features (catboost.DecodeJSON marks a categorical
// feature used when a split or CTR reads it), and *params Info values come
// back with their keys sorted, so apart from those,
// catboost.Decode(Write(d)) equals d when d's CTR tables map hashes one-to-one
// onto counter indexes 0..n-1 and d's non-symmetric nodes are in the
// pre-order layout DecodeJSON produces.
//
// d must pass Validate; Write returns its error otherwise.
func Write(w io.Writer, d *catboost.Definition) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("write catboost json: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	jw := &jsonWriter{w: bw}
	jw.raw("{")
	sep := "\n  "
	if len(d.CtrTables) > 0 {
		jw.raw(sep + `"ctr_data": `)
		writeCtrData(jw, d)
		sep = ",\n  "
	}
	jw.raw(sep + `"features_info": `)
	writeFeatures(jw, d)
	jw.raw(",\n  \"model_info\": ")
	if err := writeInfo(jw, d); err != nil {
		return err
	}
	if len(d.Trees) == 0 {
		jw.raw(",\n  \"oblivious_trees\": [")
		for i := range d.Oblivious {
			if i > 0 {
				jw.raw(",")
			}
			jw.raw("\n    ")
			writeOblivious(jw, d, &d.Oblivious[i])
		}
		jw.raw("\n  ]")
	}
	jw.raw(",\n  \"scale_and_bias\": [")
	jw.float(d.Scale, 64)
	jw.raw(", ")
	jw.floats(d.Bias)
	jw.raw("]")
	if len(d.Trees) > 0 {
		jw.raw(",\n  \"trees\": [")
		for i := range d.Trees {
			if i > 0 {
				jw.raw(",")
			}
			jw.raw("\n    ")
			writeNode(jw, d, &d.Trees[i], 0)
		}
		jw.raw("\n  ]")
	}
	jw.raw("\n}\n")
	if jw.err != nil {
		return fmt.Errorf("write catboost json: %w", jw.err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write catboost json: %w", err)
	}
	return nil
}

// jsonWriter appends JSON pieces to a buffered writer, keeping the first error.
type jsonWriter struct {
	w   *bufio.Writer
	err error
	buf []byte
}

func (j *jsonWriter) raw(s string) {
	if j.err == nil {
		_, j.err = j.w.WriteString(s)
	}
}

func (j *jsonWriter) bytes(b []byte) {
	if j.err == nil {
		_, j.err = j.w.Write(b)
	}
}

func (j *jsonWriter) int(v int64) {
	j.buf = strconv.AppendInt(j.buf[:0], v, 10)
	j.bytes(j.buf)
}

func (j *jsonWriter) float(v float64, bits int) {
	j.buf = catboost.AppendJSONFloat(j.buf[:0], v, bits)
	j.bytes(j.buf)
}

func (j *jsonWriter) floats(vs []float64) {
	j.raw("[")
	for i, v := range vs {
		if i > 0 {
			j.raw(", ")
		}
		j.float(v, 64)
	}
	j.raw("]")
}

func (j *jsonWriter) float32s(vs []float32) {
	j.raw("[")
	for i, v := range vs {
		if i > 0 {
			j.raw(", ")
		}
		j.float(float64(v), 32)
	}
	j.raw("]")
}

func (j *jsonWriter) string(s string) {
	b, err := json.Marshal(s)
	if err != nil && j.err == nil {
		j.err = err
	}
	j.bytes(b)
}

// key writes `"name": ` after a comma unless first.
func (j *jsonWriter) key(first bool, name string) {
	if !first {
		j.raw(", ")
	}
	j.raw(`"` + name + `": `)
}

func writeCtrData(jw *jsonWriter, d *catboost.Definition) {
	type keyed struct {
		key string
		t   *catboost.CtrTable
	}
	tables := make([]keyed, len(d.CtrTables))
	for i := range d.CtrTables {
		tables[i] = keyed{catboost.CtrIdentifier(&d.CtrTables[i].Base), &d.CtrTables[i]}
	}
	slices.SortFunc(tables, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	jw.raw("{")
	for i, kt := range tables {
		if i > 0 {
			jw.raw(",")
		}
		jw.raw("\n    ")
		jw.string(kt.key)
		jw.raw(": ")
		writeCtrTable(jw, kt.t)
	}
	jw.raw("\n  }")
}

func writeCtrTable(jw *jsonWriter, t *catboost.CtrTable) {
	type entry struct {
		hash uint64
		idx  uint32
	}
	entries := make([]entry, 0, len(t.Index))
	for h, idx := range t.Index {
		entries = append(entries, entry{h, idx})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if a.idx != b.idx {
			return int(int64(a.idx) - int64(b.idx))
		}
		if a.hash < b.hash {
			return -1
		}
		return 1
	})
	stride := 2
	switch t.Base.Type {
	case catboost.CtrBinarizedTargetMeanValue, catboost.CtrFloatTargetMeanValue:
		stride = 3
	case catboost.CtrBorders, catboost.CtrBuckets:
		stride = 1 + t.TargetClassesCount
	}
	jw.raw(`{"counter_denominator": `)
	jw.int(int64(t.CounterDenominator))
	jw.raw(`, "hash_map": [`)
	for i, e := range entries {
		if i > 0 {
			jw.raw(", ")
		}
		jw.raw(`"` + strconv.FormatUint(e.hash, 10) + `"`)
		switch t.Base.Type {
		case catboost.CtrBinarizedTargetMeanValue, catboost.CtrFloatTargetMeanValue:
			m := t.Means[e.idx]
			jw.raw(", ")
			jw.float(float64(m.Sum), 32)
			jw.raw(", ")
			jw.int(int64(m.Count))
		case catboost.CtrCounter, catboost.CtrFeatureFreq:
			jw.raw(", ")
			jw.int(int64(t.Counters[e.idx]))
		default:
			k := t.TargetClassesCount
			for _, c := range t.Counters[int(e.idx)*k : int(e.idx)*k+k] {
				jw.raw(", ")
				jw.int(int64(c))
			}
		}
	}
	jw.raw(`], "hash_stride": `)
	jw.int(int64(stride))
	jw.raw("}")
}

func writeFeatures(jw *jsonWriter, d *catboost.Definition) {
	jw.raw("{")
	sep := "\n    "
	onehot := make(map[int]*catboost.OneHotFeature, len(d.OneHotFeatures))
	for i := range d.OneHotFeatures {
		onehot[d.OneHotFeatures[i].CatIndex] = &d.OneHotFeatures[i]
	}
	if len(d.CatFeatures) > 0 {
		jw.raw(sep + `"categorical_features": [`)
		for i, c := range d.CatFeatures {
			if i > 0 {
				jw.raw(",")
			}
			jw.raw("\n      {")
			jw.key(true, "feature_id")
			jw.string(c.Name)
			jw.key(false, "feature_index")
			jw.int(int64(c.Index))
			jw.key(false, "flat_feature_index")
			jw.int(int64(c.FlatIndex))
			if o := onehot[c.Index]; o != nil {
				if len(o.StringValues) > 0 {
					jw.key(false, "string_values")
					jw.raw("[")
					for k, s := range o.StringValues {
						if k > 0 {
							jw.raw(", ")
						}
						jw.string(s)
					}
					jw.raw("]")
				}
				jw.key(false, "values")
				jw.raw("[")
				for k, v := range o.Values {
					if k > 0 {
						jw.raw(", ")
					}
					jw.int(int64(v))
				}
				jw.raw("]")
			}
			jw.raw("}")
		}
		jw.raw("\n    ]")
		sep = ",\n    "
	}
	if len(d.Ctrs) > 0 {
		jw.raw(sep + `"ctrs": [`)
		for i := range d.Ctrs {
			if i > 0 {
				jw.raw(",")
			}
			jw.raw("\n      ")
			writeCtr(jw, &d.Ctrs[i])
		}
		jw.raw("\n    ]")
		sep = ",\n    "
	}
	if len(d.FloatFeatures) > 0 {
		jw.raw(sep + `"float_features": [`)
		for i, f := range d.FloatFeatures {
			if i > 0 {
				jw.raw(",")
			}
			jw.raw("\n      {")
			jw.key(true, "borders")
			jw.float32s(f.Borders)
			jw.key(false, "feature_id")
			jw.string(f.Name)
			jw.key(false, "feature_index")
			jw.int(int64(f.Index))
			jw.key(false, "flat_feature_index")
			jw.int(int64(f.FlatIndex))
			jw.key(false, "has_nans")
			jw.raw(strconv.FormatBool(f.HasNans))
			jw.key(false, "nan_value_treatment")
			jw.string(f.NanTreatment.String())
			jw.raw("}")
		}
		jw.raw("\n    ]")
	}
	jw.raw("\n  }")
}

func writeCtr(jw *jsonWriter, c *catboost.Ctr) {
	id := catboost.CtrIdentifier(&c.Base)
	jw.raw("{")
	jw.key(true, "borders")
	jw.float32s(c.Borders)
	jw.key(false, "ctr_type")
	jw.string(c.Base.Type.String())
	jw.key(false, "elements")
	// The elements are the identifier's array.
	inner := strings.TrimSuffix(strings.TrimPrefix(id, `{"identifier":`), `,"type":"`+c.Base.Type.String()+`"}`)
	jw.raw(inner)
	jw.key(false, "identifier")
	jw.string(id)
	jw.key(false, "prior_denomerator")
	jw.float(float64(c.PriorDenom), 32)
	jw.key(false, "prior_numerator")
	jw.float(float64(c.PriorNum), 32)
	jw.key(false, "scale")
	jw.float(float64(c.Scale), 32)
	jw.key(false, "shift")
	jw.float(float64(c.Shift), 32)
	jw.key(false, "target_border_idx")
	jw.int(int64(c.TargetBorderIdx))
	jw.raw("}")
}

// writeInfo writes model_info with sorted keys.
func writeInfo(jw *jsonWriter, d *catboost.Definition) error {
	keys := make([]string, 0, len(d.Info))
	for k := range d.Info {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	jw.raw("{")
	for i, k := range keys {
		if i > 0 {
			jw.raw(",")
		}
		jw.raw("\n    ")
		jw.string(k)
		jw.raw(": ")
		v := d.Info[k]
		if obj, ok := infoObject(k, v); ok {
			jw.raw(obj)
		} else {
			jw.string(v)
		}
	}
	if len(keys) > 0 {
		jw.raw("\n  ")
	}
	jw.raw("}")
	return nil
}

// infoObject returns the canonical JSON text (keys sorted, see
// canonicalJSON) of an Info value that is written as a JSON object: CatBoost
// does so for keys ending in "params" (spec §1.5). ok is false for other
// keys and for values that are not JSON objects.
func infoObject(key, v string) (text string, ok bool) {
	if !strings.HasSuffix(key, "params") || !strings.HasPrefix(strings.TrimLeft(v, " \t\r\n"), "{") {
		return "", false
	}
	text, err := catboost.CanonicalJSON([]byte(v))
	return text, err == nil
}

func writeSplit(jw *jsonWriter, d *catboost.Definition, i int) {
	s := d.Splits[i]
	jw.raw("{")
	switch s.Kind {
	case catboost.SplitFloat:
		jw.key(true, "border")
		jw.float(float64(s.Border), 32)
		jw.key(false, "float_feature_index")
		jw.int(int64(s.Feature))
		jw.key(false, "split_index")
		jw.int(int64(i))
		jw.key(false, "split_type")
		jw.raw(`"FloatFeature"`)
	case catboost.SplitOneHot:
		jw.key(true, "cat_feature_index")
		jw.int(int64(s.Feature))
		jw.key(false, "split_index")
		jw.int(int64(i))
		jw.key(false, "split_type")
		jw.raw(`"OneHotFeature"`)
		jw.key(false, "value")
		jw.int(int64(s.Value))
	case catboost.SplitCtr:
		jw.key(true, "border")
		jw.float(float64(s.Border), 32)
		jw.key(false, "ctr_target_border_idx")
		jw.int(int64(d.Ctrs[s.Feature].TargetBorderIdx))
		jw.key(false, "split_index")
		jw.int(int64(i))
		jw.key(false, "split_type")
		jw.raw(`"OnlineCtr"`)
	}
	jw.raw("}")
}

func writeOblivious(jw *jsonWriter, d *catboost.Definition, t *catboost.ObliviousTree) {
	jw.raw("{")
	jw.key(true, "leaf_values")
	jw.floats(t.LeafValues)
	if len(t.LeafWeights) > 0 {
		jw.key(false, "leaf_weights")
		jw.floats(t.LeafWeights)
	}
	jw.key(false, "splits")
	jw.raw("[")
	for k, s := range t.Splits {
		if k > 0 {
			jw.raw(", ")
		}
		writeSplit(jw, d, s)
	}
	jw.raw("]}")
}

// writeNode writes node k of t and its subtrees (depth ≤ 64 by Validate).
func writeNode(jw *jsonWriter, d *catboost.Definition, t *catboost.Tree, k int) {
	nd := t.Nodes[k]
	if nd.Left == 0 && nd.Right == 0 {
		writeLeaf(jw, d, t, nd.LeafOffset)
		return
	}
	child := func(diff uint16) {
		if diff == 0 {
			writeLeaf(jw, d, t, nd.LeafOffset)
		} else {
			writeNode(jw, d, t, k+int(diff))
		}
	}
	jw.raw(`{"left": `)
	child(nd.Left)
	jw.raw(`, "right": `)
	child(nd.Right)
	jw.raw(`, "split": `)
	writeSplit(jw, d, nd.Split)
	jw.raw("}")
}

func writeLeaf(jw *jsonWriter, d *catboost.Definition, t *catboost.Tree, off uint32) {
	dim := d.ApproxDimension
	jw.raw(`{"value": `)
	if dim == 1 {
		jw.float(t.LeafValues[off], 64)
	} else {
		jw.floats(t.LeafValues[off : int(off)+dim])
	}
	if len(t.LeafWeights) > 0 {
		jw.raw(`, "weight": `)
		jw.float(t.LeafWeights[int(off)/dim], 64)
	}
	jw.raw("}")
}
