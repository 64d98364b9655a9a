package xgboost

import (
	"fmt"
	"math"

	"github.com/loan-scorer/loan-scorer/model"
)

// link says how an objective turns learner_model_param.base_score, which
// XGBoost stores on the prediction scale, into a margin (ProbToMargin).
type link uint8

const (
	linkIdentity link = iota
	// linkLogit: margin = -log(1/base_score - 1), for logistic objectives.
	linkLogit
	// linkLog: margin = log(base_score), for log-link objectives.
	linkLog
)

// objective is what the evaluator needs to know about an XGBoost objective.
type objective struct {
	task model.Task
	base link
}

// lookupObjective returns the objective called name. What predict() returns
// for each: the sigmoid of the margin for logistic ones, the softmax
// (softprob) or its argmax (softmax) for multi-class ones, exp of the margin
// for log-link ones and the margin itself for the rest. binary:hinge and
// other objectives are refused.
func lookupObjective(name string) (objective, error) {
	switch name {
	case "binary:logistic", "binary:logitraw", "reg:logistic":
		return objective{model.BinaryClassification, linkLogit}, nil
	case "multi:softprob", "multi:softmax":
		return objective{model.MultiClassification, linkIdentity}, nil
	case "reg:squarederror", "reg:linear", "reg:squaredlogerror", "reg:pseudohubererror",
		"reg:absoluteerror", "reg:quantileerror", "rank:pairwise", "rank:ndcg", "rank:map":
		return objective{model.Regression, linkIdentity}, nil
	case "count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft":
		return objective{model.Regression, linkLog}, nil
	}
	return objective{}, fmt.Errorf("%w: objective %q", ErrUnsupported, name)
}

// baseMargin converts base_score to the margin every row starts from, in
// float32 as XGBoost does.
func (o objective) baseMargin(score float32) (float32, error) {
	switch o.base {
	case linkLogit:
		if !(score > 0 && score < 1) {
			return 0, fmt.Errorf("%w: base_score %v outside (0, 1) for a logistic objective", ErrFormat, score)
		}
		return float32(-math.Log(float64(1/score - 1))), nil
	case linkLog:
		if !(score > 0) {
			return 0, fmt.Errorf("%w: base_score %v not positive for a log-link objective", ErrFormat, score)
		}
		return float32(math.Log(float64(score))), nil
	}
	return score, nil
}
