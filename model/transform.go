package model

import "math"

// Transform turns one row's raw values (RawFormulaVal: the sum of the
// trees, scaled and biased) into each prediction type. It is the one copy of
// the output transforms: every backend describes its model's output with a
// Transform and applies it after summing the trees, so a probability means
// the same thing whatever library trained the model.
//
//   - RawFormulaVal copies the raw values.
//   - Exponent is exp(raw) per dimension (log-link regressions).
//   - MultiProbability is the sigmoid of every dimension.
//   - Probability is the sigmoid of Scale·raw per dimension for a model of
//     one dimension or with SigmoidEach, else the softmax across the
//     dimensions (CatBoost's CalcSoftmax, XGBoost's softprob, LightGBM's
//     multiclass); a model whose raw value is the probability already
//     (RawIsProbability) copies it.
//   - Class is the index of the largest raw value (first wins) for a
//     multiclass model, else 1 or 0 per dimension: whether the raw value
//     is above ClassBorder.
//
// The zero Transform describes nothing; fill Task and Dimension at least.
// Apply allocates nothing and may write in place (raw and out the same
// slice).
type Transform struct {
	// Task and Dimension are the model's (Output.Task, Output.Dimension).
	Task      Task
	Dimension int
	// SigmoidEach makes Probability a sigmoid per dimension instead of a
	// softmax across them (CatBoost's MultiClassOneVsAll and multi-label
	// losses).
	SigmoidEach bool
	// Scale multiplies the raw value inside Probability's sigmoid
	// (LightGBM's sigmoid parameter); 0 means 1.
	Scale float64
	// RawIsProbability marks a binary model whose raw value is the positive
	// class's probability already (LightGBM random forests average leaf
	// probabilities): Probability copies it.
	RawIsProbability bool
	// ClassBorder is the raw value a binary or multi-label row must exceed
	// to be of class 1: the logit of the probability threshold (0 for
	// 0.5), or the threshold itself when RawIsProbability.
	ClassBorder float64
	// RegressionProbability lets a regressor produce Probability and Class
	// (the sigmoid of its raw value, as CatBoost computes it); other
	// libraries refuse them for regressors.
	RegressionProbability bool
}

// Supports reports whether the model can produce p.
func (t *Transform) Supports(p PredictionType) bool {
	switch p {
	case RawFormulaVal, Exponent, MultiProbability:
		return true
	case Probability:
		return t.Task != Regression || t.RegressionProbability
	case Class:
		return t.Task != Regression
	}
	return false
}

// Apply writes the prediction of type p for one row's raw values (Dimension
// of them) into out (Output.Width(p) values). p must be supported.
func (t *Transform) Apply(p PredictionType, raw, out []float64) {
	switch p {
	case RawFormulaVal:
		copy(out, raw)
	case Exponent:
		for k, v := range raw {
			out[k] = math.Exp(v)
		}
	case MultiProbability:
		for k, v := range raw {
			out[k] = sigmoid(v)
		}
	case Probability:
		switch {
		case t.RawIsProbability:
			copy(out, raw)
		case t.Dimension == 1 || t.SigmoidEach:
			scale := t.Scale
			if scale == 0 {
				scale = 1
			}
			for k, v := range raw {
				out[k] = sigmoid(scale * v)
			}
		default:
			softmax(raw, out)
		}
	case Class:
		if t.Task == MultiClassification {
			best := 0
			for k, v := range raw {
				if v > raw[best] { // the first maximum wins
					best = k
				}
			}
			out[0] = float64(best)
			return
		}
		for k, v := range raw { // binary (one value) or multi-label (one per dimension)
			c := 0.0
			if v > t.ClassBorder {
				c = 1
			}
			out[k] = c
		}
	}
}

// sigmoid is 1/(1+exp(-x)), as CatBoost's CalcSigmoid, XGBoost's and
// LightGBM's logistic transforms.
func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// softmax writes exp(x_k − max) / Σ exp(x_j − max) into out (CatBoost's
// CalcSoftmax, which uses a fast exp on x86, agrees within about 1e-15
// relative; XGBoost, in float32, within about 1e-7).
func softmax(raw, out []float64) {
	top := raw[0]
	for _, v := range raw[1:] {
		top = max(top, v)
	}
	var sum float64
	for k, v := range raw {
		out[k] = math.Exp(v - top)
		sum += out[k]
	}
	for k := range out[:len(raw)] {
		out[k] /= sum
	}
}
