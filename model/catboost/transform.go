package catboost

import (
	"math"

	"github.com/loan-scorer/loan-scorer/model"
)

// This file turns raw values into the prediction types of spec §4.2.

// transform knows how a model's raw values become each prediction type.
type transform struct {
	dim  int
	task model.Task
	// sigmoidEach: Probability is a per-dimension sigmoid (multi-label losses
	// and MultiClassOneVsAll) instead of a softmax.
	sigmoidEach bool
	// classBorder is the binary (and multi-label) Class threshold on the raw
	// scale: logit(ProbabilityThreshold).
	classBorder float64
}

// supports reports whether p can be computed for this model.
func (t *transform) supports(p model.PredictionType) bool {
	switch p {
	case model.RawFormulaVal, model.Probability, model.Exponent, model.MultiProbability:
		return true
	case model.Class:
		return t.task != model.Regression
	}
	return false
}

// apply writes the prediction of type p for one row's raw values into out
// (Output.Width(p) values).
func (t *transform) apply(p model.PredictionType, raw, out []float64) {
	switch p {
	case model.RawFormulaVal:
		copy(out, raw)
	case model.Exponent:
		for k, v := range raw {
			out[k] = math.Exp(v)
		}
	case model.MultiProbability:
		for k, v := range raw {
			out[k] = sigmoid(v)
		}
	case model.Probability:
		if t.dim == 1 || t.sigmoidEach {
			for k, v := range raw {
				out[k] = sigmoid(v)
			}
			return
		}
		softmax(raw, out)
	case model.Class:
		switch {
		case t.task == model.MultiClassification:
			best := 0
			for k, v := range raw {
				if v > raw[best] { // first maximum wins
					best = k
				}
			}
			out[0] = float64(best)
		default: // binary (one value) or multi-label (one per dimension)
			for k, v := range raw {
				out[k] = 0
				if v > t.classBorder {
					out[k] = 1
				}
			}
		}
	}
}

// sigmoid is 1/(1+exp(-x)), as CatBoost's CalcSigmoid.
func sigmoid(x float64) float64 {
	return 1 / (1 + math.Exp(-x))
}

// softmax is exp(x_k − max) / Σ exp(x_j − max) (CatBoost's CalcSoftmax; it
// uses a fast exp on x86, so results agree within about 1e-15 relative).
func softmax(raw, out []float64) {
	m := raw[0]
	for _, v := range raw[1:] {
		m = max(m, v)
	}
	var sum float64
	for k, v := range raw {
		out[k] = math.Exp(v - m)
		sum += out[k]
	}
	for k := range out[:len(raw)] {
		out[k] /= sum
	}
}
