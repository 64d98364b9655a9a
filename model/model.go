package model

import (
	"fmt"
	"math"
	"strings"
)

// FeatureKind says how a feature's value reaches the model.
type FeatureKind uint8

const (
	// Float features take a number; NaN means missing.
	Float FeatureKind = iota + 1
	// Categorical features take a string, hashed by the backend.
	Categorical
)

// String returns "float" or "categorical".
func (k FeatureKind) String() string {
	switch k {
	case Float:
		return "float"
	case Categorical:
		return "categorical"
	}
	return fmt.Sprintf("FeatureKind(%d)", uint8(k))
}

// Feature describes one input column of a model.
type Feature struct {
	// Name is the model's feature_id; a model without names gets the flat
	// index in decimal ("0", "1", ...).
	Name string
	Kind FeatureKind
	// FlatIndex is the column of the feature in the full training row.
	FlatIndex int
	// Index is the position among features of the same kind: the slot in a
	// Batch row's Floats (Kind Float) or Cats (Kind Categorical).
	Index int
	// Used is false when no split of the model reads the feature.
	Used bool
}

// Schema is the ordered list of a model's input features.
type Schema struct {
	// Features in flat order (Features[i].FlatIndex == i).
	Features []Feature
	// NumFloat and NumCat are the row widths of Batch.Floats and Batch.Cats.
	NumFloat int
	NumCat   int
}

// Lookup returns the feature with the given name.
func (s *Schema) Lookup(name string) (Feature, bool) {
	for _, f := range s.Features {
		if f.Name == name {
			return f, true
		}
	}
	return Feature{}, false
}

// Task is what a model predicts.
type Task uint8

const (
	// Regression predicts one or more real values.
	Regression Task = iota + 1
	// BinaryClassification predicts the probability of the positive class.
	BinaryClassification
	// MultiClassification predicts one probability per class (softmax).
	MultiClassification
	// MultiLabel predicts an independent probability per label (sigmoid each).
	MultiLabel
)

// String returns the task's name.
func (t Task) String() string {
	switch t {
	case Regression:
		return "regression"
	case BinaryClassification:
		return "binary"
	case MultiClassification:
		return "multiclass"
	case MultiLabel:
		return "multilabel"
	}
	return fmt.Sprintf("Task(%d)", uint8(t))
}

// PredictionType selects the transformation applied to the raw model output.
type PredictionType uint8

const (
	// RawFormulaVal is the sum of the trees, scaled and biased.
	RawFormulaVal PredictionType = iota + 1
	// Probability is the sigmoid of the raw value for binary models (one value:
	// the positive class), the softmax over dimensions for multiclass models and
	// the per-dimension sigmoid for multi-label models.
	Probability
	// Class is the index of the predicted class into Output.ClassLabels (binary:
	// raw > logit(threshold); multiclass: argmax, first wins); multi-label models
	// give 0 or 1 per dimension.
	Class
	// Exponent is exp(raw) per dimension (Poisson, Tweedie).
	Exponent
	// MultiProbability is the sigmoid of every dimension.
	MultiProbability
)

// ParsePredictionType reads the CatBoost name of a prediction type.
func ParsePredictionType(s string) (PredictionType, error) {
	switch s {
	case "RawFormulaVal":
		return RawFormulaVal, nil
	case "Probability":
		return Probability, nil
	case "Class":
		return Class, nil
	case "Exponent":
		return Exponent, nil
	case "MultiProbability":
		return MultiProbability, nil
	}
	return 0, fmt.Errorf("unknown prediction type %q (want RawFormulaVal, Probability, Class, Exponent or MultiProbability)", s)
}

// String returns the CatBoost name of the prediction type.
func (p PredictionType) String() string {
	switch p {
	case RawFormulaVal:
		return "RawFormulaVal"
	case Probability:
		return "Probability"
	case Class:
		return "Class"
	case Exponent:
		return "Exponent"
	case MultiProbability:
		return "MultiProbability"
	}
	return fmt.Sprintf("PredictionType(%d)", uint8(p))
}

// Output describes what a model produces per row.
type Output struct {
	// Dimension is the number of raw values per row (CatBoost's ApproxDimension).
	Dimension int
	Task      Task
	// Loss is the training loss name as the model records it ("Logloss",
	// "RMSE", "MultiClass", ...), or "" when the model does not say.
	Loss string
	// ClassLabels names the classes of a classifier in output order; for a
	// binary model, [negative, positive]. Empty for regressors.
	ClassLabels []string
	// ProbabilityThreshold is the binary Class decision threshold on the
	// probability scale (0.5 unless the model says otherwise).
	ProbabilityThreshold float64
}

// Width returns how many values per row Predict writes for p.
func (o Output) Width(p PredictionType) int {
	switch {
	case o.Task == BinaryClassification && o.Dimension == 1 && (p == Probability || p == Class):
		return 1
	case p == Class && o.Task == MultiClassification:
		return 1
	}
	return o.Dimension
}

// Serving returns the prediction type the service publishes: Probability for
// classifiers, Exponent for regressors trained with a log link (CatBoost
// Poisson and Tweedie; XGBoost count:poisson, reg:gamma, reg:tweedie and
// survival:*; LightGBM poisson, gamma and tweedie), RawFormulaVal for other
// regressors. That is what each library's own predict() returns.
func (o Output) Serving() PredictionType {
	switch o.Task {
	case BinaryClassification, MultiClassification, MultiLabel:
		return Probability
	}
	if logLink(o.Loss) {
		return Exponent
	}
	return RawFormulaVal
}

// logLink reports whether a loss name, as CatBoost, XGBoost or LightGBM
// record it, models the log of the target.
func logLink(loss string) bool {
	for _, prefix := range []string{"Poisson", "Tweedie", "count:poisson", "reg:gamma", "reg:tweedie", "survival:"} {
		if strings.HasPrefix(loss, prefix) {
			return true
		}
	}
	switch loss {
	case "poisson", "gamma", "tweedie":
		return true
	}
	return false
}

// Batch holds rows of input values, row-major, split by feature kind. Row r's
// float feature with Index i is Floats[r*NumFloat+i] (NaN = missing); its
// categorical feature with Index j is Cats[r*NumCat+j]. The zero Batch is
// empty and ready to use; Reset keeps the backing arrays for reuse.
type Batch struct {
	Rows     int
	NumFloat int
	NumCat   int
	Floats   []float64
	Cats     []string
}

// NewBatch returns an empty batch shaped for s with room for capacity rows.
func NewBatch(s *Schema, capacity int) *Batch {
	return &Batch{
		NumFloat: s.NumFloat,
		NumCat:   s.NumCat,
		Floats:   make([]float64, 0, capacity*s.NumFloat),
		Cats:     make([]string, 0, capacity*s.NumCat),
	}
}

// Reset empties the batch, keeping its storage.
func (b *Batch) Reset() {
	b.Rows = 0
	clear(b.Cats) // drop string references so payloads can be collected
	b.Floats = b.Floats[:0]
	b.Cats = b.Cats[:0]
}

// AppendRow adds one row and returns its float and categorical slots. Floats
// start as NaN (missing) and categories as "".
func (b *Batch) AppendRow() (floats []float64, cats []string) {
	nf, nc := len(b.Floats), len(b.Cats)
	b.Floats = grow(b.Floats, b.NumFloat)
	b.Cats = grow(b.Cats, b.NumCat)
	b.Rows++
	floats, cats = b.Floats[nf:nf+b.NumFloat], b.Cats[nc:nc+b.NumCat]
	for i := range floats {
		floats[i] = math.NaN()
	}
	return floats, cats
}

// Row returns the float and categorical slots of row r.
func (b *Batch) Row(r int) (floats []float64, cats []string) {
	return b.Floats[r*b.NumFloat : (r+1)*b.NumFloat], b.Cats[r*b.NumCat : (r+1)*b.NumCat]
}

// Check reports whether the batch's slices match its shape and the schema.
func (b *Batch) Check(s *Schema) error {
	if b.NumFloat != s.NumFloat || b.NumCat != s.NumCat {
		return fmt.Errorf("batch shaped for %d float and %d categorical features, model has %d and %d",
			b.NumFloat, b.NumCat, s.NumFloat, s.NumCat)
	}
	if len(b.Floats) != b.Rows*b.NumFloat || len(b.Cats) != b.Rows*b.NumCat {
		return fmt.Errorf("batch of %d rows holds %d floats and %d categories, want %d and %d",
			b.Rows, len(b.Floats), len(b.Cats), b.Rows*b.NumFloat, b.Rows*b.NumCat)
	}
	return nil
}

// grow extends s by n elements, doubling the backing array when it is full.
func grow[T any](s []T, n int) []T {
	if cap(s)-len(s) < n {
		bigger := make([]T, len(s), 2*cap(s)+n)
		copy(bigger, s)
		s = bigger
	}
	return s[:len(s)+n]
}

// Model is a loaded model ready to score. Implementations are safe for
// concurrent use and allocate nothing per row in steady state.
type Model interface {
	// Schema returns the model's input features. The caller must not modify it.
	Schema() *Schema
	// Output describes the model's output.
	Output() Output
	// Predict scores every row of b with prediction type p and writes
	// b.Rows × Output().Width(p) values into out, row-major. out must have at
	// least that length. It returns an error for a batch that does not fit the
	// schema or a prediction type the model cannot produce; it never retains b
	// or out.
	Predict(b *Batch, p PredictionType, out []float64) error
}

// Info is what `scorer model inspect` shows beyond the schema and the output.
type Info struct {
	// ProducerVersion is the version of the library that wrote the model
	// ("1.2.10"), or "" when the file does not say.
	ProducerVersion string
	// TreeDepths holds each tree's depth (the longest root-to-leaf path for
	// non-symmetric trees), in model order.
	TreeDepths []int
	// Symmetric is true for oblivious (CatBoost symmetric) trees.
	Symmetric bool
	// CtrTypes lists the CTR types the model uses, sorted; empty for models
	// without categorical statistics.
	CtrTypes []string
}

// Describer is implemented by models that can describe themselves.
type Describer interface {
	Describe() Info
}
