package model

import (
	"math"
	"testing"
)

func TestTransform(t *testing.T) {
	logit := func(p float64) float64 { return math.Log(p / (1 - p)) }
	for _, c := range []struct {
		name string
		tr   Transform
		p    PredictionType
		raw  []float64
		want []float64
	}{
		{"binary probability", Transform{Task: BinaryClassification, Dimension: 1}, Probability, []float64{0}, []float64{0.5}},
		{"scaled sigmoid", Transform{Task: BinaryClassification, Dimension: 1, Scale: 2}, Probability, []float64{logit(0.8) / 2}, []float64{0.8}},
		{"raw is the probability", Transform{Task: BinaryClassification, Dimension: 1, RawIsProbability: true, ClassBorder: 0.5}, Probability, []float64{0.3}, []float64{0.3}},
		{"forest class", Transform{Task: BinaryClassification, Dimension: 1, RawIsProbability: true, ClassBorder: 0.5}, Class, []float64{0.6}, []float64{1}},
		{"class border", Transform{Task: BinaryClassification, Dimension: 1, ClassBorder: logit(0.7)}, Class, []float64{logit(0.65)}, []float64{0}},
		{"softmax", Transform{Task: MultiClassification, Dimension: 3}, Probability, []float64{0, 0, math.Log(2)}, []float64{0.25, 0.25, 0.5}},
		{"one-vs-all", Transform{Task: MultiClassification, Dimension: 2, SigmoidEach: true}, Probability, []float64{0, 0}, []float64{0.5, 0.5}},
		{"argmax, first wins", Transform{Task: MultiClassification, Dimension: 3}, Class, []float64{1, 3, 3}, []float64{1}},
		{"multi-label class", Transform{Task: MultiLabel, Dimension: 2}, Class, []float64{-1, 1}, []float64{0, 1}},
		{"exponent", Transform{Task: Regression, Dimension: 1}, Exponent, []float64{math.Log(3)}, []float64{3}},
		{"multi-probability", Transform{Task: Regression, Dimension: 2}, MultiProbability, []float64{0, 0}, []float64{0.5, 0.5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !c.tr.Supports(c.p) {
				t.Fatalf("%v not supported", c.p)
			}
			out := make([]float64, len(c.want))
			c.tr.Apply(c.p, c.raw, out)
			for k := range c.want {
				if math.Abs(out[k]-c.want[k]) > 1e-12 {
					t.Fatalf("%v(%v) = %v, want %v", c.p, c.raw, out, c.want)
				}
			}
			if len(c.want) == len(c.raw) { // in place
				in := append([]float64(nil), c.raw...)
				c.tr.Apply(c.p, in, in)
				for k := range c.want {
					if math.Abs(in[k]-c.want[k]) > 1e-12 {
						t.Fatalf("in place: %v, want %v", in, c.want)
					}
				}
			}
		})
	}
	reg := Transform{Task: Regression, Dimension: 1}
	if reg.Supports(Probability) || reg.Supports(Class) || reg.Supports(0) {
		t.Error("a regressor supports Probability, Class or type 0")
	}
	if reg.RegressionProbability = true; !reg.Supports(Probability) || reg.Supports(Class) {
		t.Error("RegressionProbability: want Probability and not Class")
	}
}
