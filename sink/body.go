package sink

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// The JSON bodies are written by hand into a caller-owned buffer: every
// result on every path goes through here, and appending avoids the
// reflection and allocations of encoding/json. Numbers are printed with
// strconv 'g' -1 (the shortest text that reads back as the same float64);
// a NaN or infinite value, which JSON cannot carry, is written as null.

// AppendResult appends the result body of one scored row, whose values (as
// the model's Width() for its Prediction) are out:
//
//	{"id":"...","default_proba":p,"model":"..."}       binary classifier
//	{"id":"...","prediction":x,"model":"..."}          regressor, one dimension
//	{"id":"...","prediction":[x,...],"model":"..."}    regressor, several
//	{"id":"...","probabilities":[p,...],"model":"..."} multiclass, multi-label
//
// The model field is m.Version. The fields of note follow when it has any
// (AppendNote); a nil or empty note leaves the body as above.
func AppendResult(dst []byte, id string, m *model.Loaded, out []float64, note *reason.Note) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendString(dst, id)
	dst = append(dst, ',')
	dst = appendValues(dst, m, out)
	dst = append(dst, `,"model":`...)
	dst = AppendString(dst, m.Version)
	dst = AppendNote(dst, note)
	return append(dst, '}')
}

// AppendPrediction appends the seed-compatible HTTP body of one scored row:
// {"default_proba":p} for a binary classifier, {"prediction":x} for a
// regressor, {"probabilities":[...]} for multiclass and multi-label models;
// then the fields of note when it has any (a nil note keeps the seed's
// shape to the byte).
func AppendPrediction(dst []byte, m *model.Loaded, out []float64, note *reason.Note) []byte {
	dst = append(dst, '{')
	dst = appendValues(dst, m, out)
	dst = AppendNote(dst, note)
	return append(dst, '}')
}

// Field names the result body uses for each kind of model.
const (
	FieldDefaultProba  = "default_proba"
	FieldPrediction    = "prediction"
	FieldProbabilities = "probabilities"
)

// ValueField returns the name of the result field that carries m's values
// and whether it is an array (as AppendResult writes it).
func ValueField(m *model.Loaded) (name string, array bool) {
	o := m.Output()
	w := m.Width()
	switch {
	case o.Task == model.BinaryClassification && w == 1 && m.Prediction == model.Probability:
		return FieldDefaultProba, false
	case o.Task == model.Regression || m.Prediction == model.RawFormulaVal || m.Prediction == model.Exponent:
		return FieldPrediction, w != 1
	}
	return FieldProbabilities, true
}

func appendValues(dst []byte, m *model.Loaded, out []float64) []byte {
	name, array := ValueField(m)
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, `":`...)
	if !array && len(out) == 1 {
		return AppendFloat(dst, out[0])
	}
	dst = append(dst, '[')
	for i, v := range out {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendFloat(dst, v)
	}
	return append(dst, ']')
}

// AppendError appends the error body
//
//	{"id":"...","error":{"code":"...","message":"...","fields":{"Term":"missing"}}}
//
// with "id" left out when id is empty (HTTP) and "fields" left out when
// fields is empty. Field names are written in sorted order.
func AppendError(dst []byte, id string, code, message string, fields map[string]string) []byte {
	dst = append(dst, '{')
	if id != "" {
		dst = append(dst, `"id":`...)
		dst = AppendString(dst, id)
		dst = append(dst, ',')
	}
	dst = append(dst, `"error":{"code":`...)
	dst = AppendString(dst, code)
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, message)
	if len(fields) > 0 {
		dst = append(dst, `,"fields":{`...)
		for i, k := range sortedKeys(fields) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, k)
			dst = append(dst, ':')
			dst = AppendString(dst, fields[k])
		}
		dst = append(dst, '}')
	}
	return append(dst, "}}"...)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Insertion sort: error field maps are small.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// AppendFloat appends v in the shortest form that reads back as v, or null
// for NaN and infinities.
func AppendFloat(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Control characters, quotes and
// backslashes are escaped; so are <, > and & (HTML-safe, as encoding/json
// does), U+2028 and U+2029, and every invalid UTF-8 byte becomes U+FFFD, so
// input echoed back in an error can never break out of the body.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Bodies is the body encoding of this file as a value: what the sync and
// HTTP front doors write their answers with (ingest.Bodies). The zero
// value is ready to use.
type Bodies struct{}

// AppendResult is the package's AppendResult.
func (Bodies) AppendResult(dst []byte, id string, m *model.Loaded, out []float64, note *reason.Note) []byte {
	return AppendResult(dst, id, m, out, note)
}

// AppendPrediction is the package's AppendPrediction.
func (Bodies) AppendPrediction(dst []byte, m *model.Loaded, out []float64, note *reason.Note) []byte {
	return AppendPrediction(dst, m, out, note)
}

// AppendError is the package's AppendError.
func (Bodies) AppendError(dst []byte, id, code, message string, fields map[string]string) []byte {
	return AppendError(dst, id, code, message, fields)
}

// ValueField is the package's ValueField.
func (Bodies) ValueField(m *model.Loaded) (name string, array bool) { return ValueField(m) }
