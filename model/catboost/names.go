package catboost

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The names CatBoost's JSON format gives things, shared by the JSON decoder,
// the validator and the writer (package cbjson).

// String returns CatBoost's name of the CTR type ("Borders", "Counter").
func (t CtrType) String() string { return ctrTypeName(t) }

// String returns CatBoost's name of the NaN treatment ("AsIs", "AsFalse",
// "AsTrue").
func (n NanTreatment) String() string {
	if int(n) < len(nanTreatmentNames) {
		return nanTreatmentNames[n]
	}
	return fmt.Sprintf("NanTreatment(%d)", uint8(n))
}

// CtrIdentifier is the CTR base identifier CatBoost uses as ctr_data key and
// ctrs[].identifier: compact JSON of the projection elements (categorical
// features, then float splits, then one-hot splits) and the type, keys sorted.
func CtrIdentifier(b *CtrBase) string {
	var s strings.Builder
	s.WriteString(`{"identifier":[`)
	n := 0
	sep := func() {
		if n > 0 {
			s.WriteByte(',')
		}
		n++
	}
	p := &b.Projection
	for _, c := range p.CatFeatures {
		sep()
		fmt.Fprintf(&s, `{"cat_feature_index":%d,"combination_element":"cat_feature_value"}`, c)
	}
	for _, f := range p.FloatSplits {
		sep()
		fmt.Fprintf(&s, `{"border":%s,"combination_element":"float_feature","float_feature_index":%d}`,
			AppendJSONFloat(nil, float64(f.Border), 32), f.FloatIndex)
	}
	for _, o := range p.OneHotSplits {
		sep()
		fmt.Fprintf(&s, `{"cat_feature_index":%d,"combination_element":"cat_feature_exact_value","value":%d}`, o.CatIndex, o.Value)
	}
	s.WriteString(`],"type":`)
	name, _ := json.Marshal(b.Type.String())
	s.Write(name)
	s.WriteByte('}')
	return s.String()
}

// AppendJSONFloat appends v formatted the way encoding/json does: the shortest decimal
// that reads back as the same float of the given size, in exponent form
// only for very small or large magnitudes: how CatBoost JSON files (the
// decoder's CTR identifiers, package cbjson) write floats.
func AppendJSONFloat(b []byte, v float64, bits int) []byte {
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, v, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
