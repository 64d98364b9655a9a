package model

import (
	"errors"
	"fmt"
)

// ErrNoExplanation marks a model that scores but cannot explain its
// predictions: no leaf weights (covers) in the file, a backend without
// explanations, or statistics TreeSHAP cannot use. Backends wrap it with the
// reason.
var ErrNoExplanation = errors.New("model cannot explain its predictions")

// Explainer is implemented by models that explain their raw predictions with
// SHAP values (path-dependent TreeSHAP over the training statistics the model
// file carries: CatBoost leaf weights, XGBoost hessian sums).
//
// The layout is CatBoost's ShapValues: per row, per explained output
// dimension, one value per feature in flat order (Schema().Features; a
// feature no tree uses gets 0), then the expected value. Values are on the
// raw scale (log-odds for a binary classifier): for each dimension the
// feature values plus the expected value add up to the row's RawFormulaVal
// prediction.
type Explainer interface {
	// Explained returns how many output dimensions Explain writes per row
	// (1 for binary classifiers and regressors, the class count for
	// multiclass models), or an error wrapping ErrNoExplanation that says
	// why the model cannot be explained; Explain then returns that error.
	Explained() (dims int, err error)
	// Explain writes the SHAP values of every row of b into out:
	// b.Rows × dims × (len(Schema().Features)+1) values, row-major, in the
	// layout above. out must have at least that length. It never retains b
	// or out, is safe for concurrent use, and allocates nothing per row in
	// steady state.
	Explain(b *Batch, out []float64) error
}

// ExplanationWidth returns how many values Explain writes per row for a
// model with schema s that explains dims output dimensions.
func ExplanationWidth(s *Schema, dims int) int { return dims * (len(s.Features) + 1) }

// UnseenReporter is implemented by models that can tell which categorical
// inputs hold a value the model never saw in training: the model then falls
// back to its prior for that feature, silently. A feed whose spelling, case
// or encoding changed shows up here first.
type UnseenReporter interface {
	// Unseen writes b.Rows × b.NumCat flags into out, row-major, by
	// categorical Index (Feature.Index of Categorical features): true when
	// the row's value of that feature is unknown to every statistic the
	// model keeps about it. A feature the model does not use is never
	// flagged. out must have at least that length; Unseen never retains b
	// or out and allocates nothing per row in steady state.
	Unseen(b *Batch, out []bool) error
}

// Explain runs m's Explainer, or reports that m has none.
func Explain(m Model, b *Batch, out []float64) error {
	e, ok := m.(Explainer)
	if !ok {
		return fmt.Errorf("%w: the %T backend has no explanations", ErrNoExplanation, m)
	}
	return e.Explain(b, out)
}

// Explained returns the dimensions m explains, or why it explains none.
func Explained(m Model) (int, error) {
	e, ok := m.(Explainer)
	if !ok {
		return 0, fmt.Errorf("%w: the %T backend has no explanations", ErrNoExplanation, m)
	}
	return e.Explained()
}

// ErrNoUnseen marks a model that cannot tell which categorical values it
// never saw (a backend without categorical statistics).
var ErrNoUnseen = errors.New("model cannot report unseen categorical values")

// Unseen runs m's UnseenReporter, or reports that m has none.
func Unseen(m Model, b *Batch, out []bool) error {
	u, ok := m.(UnseenReporter)
	if !ok {
		return fmt.Errorf("%w: the %T backend keeps no categorical statistics", ErrNoUnseen, m)
	}
	return u.Unseen(b, out)
}

// UnseenPredictor is implemented by models that find unseen categorical
// values while they predict, for less than Predict and Unseen cost apart.
type UnseenPredictor interface {
	// PredictUnseen does what Predict(b, p, out) and Unseen(b, unseen)
	// do, with the same results and errors, in one pass.
	PredictUnseen(b *Batch, p PredictionType, out []float64, unseen []bool) error
}

// PredictUnseen scores b into out and writes its unseen flags into
// unseen (UnseenReporter's layout): in one pass where m is an
// UnseenPredictor, else Predict then Unseen. Unseen's errors wrap
// ErrNoUnseen when m cannot tell unseen values.
func PredictUnseen(m Model, b *Batch, p PredictionType, out []float64, unseen []bool) error {
	if u, ok := m.(UnseenPredictor); ok {
		return u.PredictUnseen(b, p, out, unseen)
	}
	if err := m.Predict(b, p, out); err != nil {
		return err
	}
	return Unseen(m, b, unseen)
}
