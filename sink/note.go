package sink

import (
	"math"
	"strconv"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// The fields a result body carries beyond its values, from a row's
// reason.Note (docs/EXPLANATIONS.md, "Reasons in results"):
//
//	"reasons":[...]          the row asked for reasons (K > 0): the top K
//	                         toward the outcome, largest first; [] when none
//	                         pushed toward it
//	"reasons_error":{...}    the row asked and the model cannot give them:
//	                         {"code":"explanation_unavailable","message":...}
//	"unseen":["is_new",...]  categorical features whose value the model
//	                         never saw, in the model's order; only when any
//
// A reason is a feature, or a reason code summing its features:
//
//	{"feature":"Term","value":84,"contribution":0.45}
//	{"code":"L01","text":"Amount of the loan","contribution":0.36,
//	 "features":[{"feature":"GrAppv","value":1500000,"contribution":0.91},
//	             {"feature":"SBA_Appv","value":1275000,"contribution":-0.55}]}
//
// value is the feature's value as the model received it: a number (null
// when missing) or the category string; contribution is its SHAP value on
// the raw scale (log-odds for a binary classifier).

// Field names of the note's part of a result body.
const (
	FieldReasons      = "reasons"
	FieldReasonsError = "reasons_error"
	FieldUnseen       = "unseen"
)

// AppendNote appends the note's fields, each with its leading comma, or
// nothing for a nil or empty note.
func AppendNote(dst []byte, n *reason.Note) []byte {
	if n.Empty() {
		return dst
	}
	if n.Asked > 0 {
		if n.Err != nil {
			dst = append(dst, `,"`+FieldReasonsError+`":{"code":`...)
			dst = AppendString(dst, reason.CodeUnavailable)
			dst = append(dst, `,"message":`...)
			dst = AppendString(dst, n.Err.Error())
			dst = append(dst, '}')
		} else {
			dst = append(dst, `,"`+FieldReasons+`":[`...)
			for i := range n.Reasons {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendReason(dst, &n.Reasons[i])
			}
			dst = append(dst, ']')
		}
	}
	if len(n.Unseen) > 0 {
		dst = append(dst, `,"`+FieldUnseen+`":[`...)
		for i, name := range n.Unseen {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, name)
		}
		dst = append(dst, ']')
	}
	return dst
}

func appendReason(dst []byte, r *reason.Reason) []byte {
	if r.Code == nil && len(r.Features) == 1 {
		return appendFeature(dst, &r.Features[0])
	}
	dst = append(dst, '{')
	if r.Code != nil {
		dst = append(dst, `"code":`...)
		dst = AppendString(dst, r.Code.Code)
		dst = append(dst, `,"text":`...)
		dst = AppendString(dst, r.Code.Text)
		dst = append(dst, ',')
	}
	dst = append(dst, `"contribution":`...)
	dst = AppendFloat(dst, r.Contribution)
	dst = append(dst, `,"features":[`...)
	for i := range r.Features {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendFeature(dst, &r.Features[i])
	}
	return append(dst, "]}"...)
}

func appendFeature(dst []byte, v *reason.Value) []byte {
	dst = append(dst, `{"feature":`...)
	dst = AppendString(dst, v.Name)
	dst = append(dst, `,"value":`...)
	if v.Kind == model.Categorical {
		dst = AppendString(dst, v.Category)
	} else {
		dst = AppendNumber(dst, v.Number)
	}
	dst = append(dst, `,"contribution":`...)
	dst = AppendFloat(dst, v.Contribution)
	return append(dst, '}')
}

// AppendNumber appends v as encoding/json writes a float64: plain decimals
// (1500000, 0.25) unless the exponent form is shorter to read (below 1e-6
// or from 1e21 on), and null for NaN and infinities. Input values are
// written this way, so they read back as what was sent.
func AppendNumber(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, v, format, -1, 64)
	if format == 'e' {
		// e-07 → e-7, as encoding/json writes it.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
