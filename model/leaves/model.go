package leaves

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/dmitryikh/leaves"

	"github.com/loan-scorer/loan-scorer/model"
)

// objective says how raw scores become predictions.
type objective struct {
	name string // as the model records it; "" when it does not say
	task model.Task
	// sigmoid is LightGBM's sigmoid parameter for binary models:
	// p = 1 / (1 + exp(-sigmoid·raw)).
	sigmoid float64
	// exp marks log-link regressions (poisson, gamma, tweedie).
	exp bool
	// averageIsProbability marks binary random forests whose averaged leaf
	// values are the probability itself.
	averageIsProbability bool
}

// Model is a model loaded through leaves. It implements model.Model and
// model.Describer and is safe for concurrent use.
type Model struct {
	ens    *leaves.Ensemble // raw scores, no transformation
	schema model.Schema
	obj    objective
	dim    int
	format string // "LightGBM text v3", "XGBoost binary"

	depths      []int
	thresholds  [][]float64
	categorical []bool // by feature: split on by category (LightGBM)

	// strictLess marks XGBoost models: XGBoost sends x left when
	// float32(x) < threshold, leaves when x <= threshold. Inputs are then
	// rounded to float32 and moved up one float32 step, which turns leaves'
	// test into XGBoost's (for float32 a and t, a < t ⇔ next(a) <= t).
	strictLess   bool
	usedFeatures []int // features some split reads, for strictLess

	// scratch holds raw scores for prediction types narrower than the raw
	// output (multi-class Class), and inputs rewritten for strictLess;
	// reused across calls.
	scratch sync.Pool

	// LightGBM explanations (lightgbm_shap.go): the trees as read for
	// TreeSHAP, or why the model cannot be explained.
	lgShap    *lgShap
	lgShapErr error
	lgPool    sync.Pool
}

// newModel wraps a raw-score ensemble.
func newModel(ens *leaves.Ensemble, names []string, used []bool, obj objective) (*Model, error) {
	m := &Model{ens: ens, obj: obj, dim: ens.NRawOutputGroups()}
	if m.dim < 1 || m.dim > maxClasses {
		return nil, fmt.Errorf("%w: %d output groups", ErrFormat, m.dim)
	}
	if obj.task == model.BinaryClassification && m.dim != 1 {
		return nil, fmt.Errorf("%w: binary objective with %d output groups", ErrFormat, m.dim)
	}
	if obj.task == model.MultiClassification && m.dim < 2 {
		return nil, fmt.Errorf("%w: multi-class objective with one output group", ErrFormat)
	}
	if len(names) < ens.NFeatures() {
		return nil, fmt.Errorf("%w: %d features named, leaves reads %d", ErrFormat, len(names), ens.NFeatures())
	}
	features := make([]model.Feature, len(names))
	for i, n := range names {
		features[i] = model.Feature{Name: n, Kind: model.Float, FlatIndex: i, Index: i, Used: used[i]}
	}
	m.schema = model.Schema{Features: features, NumFloat: len(names)}
	return m, nil
}

// Schema returns the model's features, all of kind model.Float.
func (m *Model) Schema() *model.Schema { return &m.schema }

// Output describes the model's output. Loss is the objective as the file
// records it ("binary sigmoid:1", "multiclass num_class:5", "poisson").
func (m *Model) Output() model.Output {
	out := model.Output{Dimension: m.dim, Task: m.obj.task, Loss: m.obj.name, ProbabilityThreshold: 0.5}
	switch m.obj.task {
	case model.BinaryClassification:
		out.ClassLabels = []string{"0", "1"}
	case model.MultiClassification:
		out.ClassLabels = make([]string, m.dim)
		for i := range out.ClassLabels {
			out.ClassLabels[i] = strconv.Itoa(i)
		}
	}
	return out
}

// Describe reports the tree depths; LightGBM and old XGBoost binary files do
// not record the library version.
func (m *Model) Describe() model.Info {
	return model.Info{TreeDepths: slices.Clone(m.depths)}
}

// Format names the file format and its version ("LightGBM text v3",
// "XGBoost binary").
func (m *Model) Format() string { return m.format }

// SplitThresholds returns, for each feature (by Index), the sorted distinct
// values the model splits on (numerical thresholds and categorical codes).
// Input generators sample around them. The caller must not modify the result.
func (m *Model) SplitThresholds() [][]float64 { return m.thresholds }

// CategoricalCodes reports, by feature Index, which features the trees split
// on by category: they take the integer category code as their number. It
// is nil for XGBoost binary models. The caller must not modify the result.
func (m *Model) CategoricalCodes() []bool { return m.categorical }

// Predict scores every row of b. RawFormulaVal is the raw score (LightGBM's
// raw_score=True, XGBoost's output_margin); Probability is the sigmoid
// (binary; scaled by LightGBM's sigmoid parameter) or the softmax
// (multi-class); Class is the index of the predicted class; Exponent and
// MultiProbability apply exp and the plain sigmoid to every dimension.
func (m *Model) Predict(b *model.Batch, p model.PredictionType, out []float64) error {
	if err := b.Check(&m.schema); err != nil {
		return fmt.Errorf("leaves: %w", err)
	}
	tr := m.transform()
	if !tr.Supports(p) {
		if p == model.Probability || p == model.Class {
			return fmt.Errorf("%w: %s from a regression model", ErrPredictionType, p)
		}
		return fmt.Errorf("%w: %s", ErrPredictionType, p)
	}
	w := model.Output{Dimension: m.dim, Task: m.obj.task}.Width(p)
	if len(out) < b.Rows*w {
		return fmt.Errorf("leaves: output slice holds %d values, want %d", len(out), b.Rows*w)
	}
	if b.Rows == 0 {
		return nil
	}
	var raw []float64
	if w == m.dim {
		raw = out[:b.Rows*m.dim]
	} else {
		buf := m.buffer(b.Rows * m.dim)
		defer m.scratch.Put(buf)
		raw = *buf
	}
	in := b.Floats
	if m.strictLess {
		buf := m.buffer(len(b.Floats))
		defer m.scratch.Put(buf)
		in = *buf
		// Only the features some split reads: the others are never looked
		// at, so their stale scratch values do not matter.
		nf := b.NumFloat
		for r := 0; r < b.Rows; r++ {
			src, dst := b.Floats[r*nf:(r+1)*nf], in[r*nf:(r+1)*nf]
			for _, f := range m.usedFeatures {
				dst[f] = float64(math.Nextafter32(float32(src[f]), float32(math.Inf(1))))
			}
		}
	}
	// Row by row through Ensemble.Predict: PredictDense allocates on every
	// call (its parameters are captured by its worker goroutines), and the
	// service parallelises across batches anyway.
	nf := b.NumFloat
	for r := 0; r < b.Rows; r++ {
		if err := m.ens.Predict(in[r*nf:(r+1)*nf], 0, raw[r*m.dim:(r+1)*m.dim]); err != nil {
			return fmt.Errorf("leaves: %w", err)
		}
	}
	for r := 0; r < b.Rows; r++ {
		tr.Apply(p, raw[r*m.dim:(r+1)*m.dim], out[r*w:(r+1)*w])
	}
	return nil
}

// buffer returns a pooled scratch slice of n values; put it back with
// m.scratch.Put.
func (m *Model) buffer(n int) *[]float64 {
	buf, _ := m.scratch.Get().(*[]float64)
	if buf == nil {
		buf = new([]float64)
	}
	if cap(*buf) < n {
		*buf = make([]float64, n)
	}
	*buf = (*buf)[:n]
	return buf
}

// transform describes how the model's raw scores become predictions:
// LightGBM's sigmoid parameter scales a binary model's logit, and a binary
// random forest's averaged raw score is the probability already (its class
// border is then 0.5).
func (m *Model) transform() model.Transform {
	tr := model.Transform{Task: m.obj.task, Dimension: m.dim, Scale: m.obj.sigmoid}
	if m.obj.averageIsProbability {
		tr.RawIsProbability, tr.ClassBorder = true, 0.5
	}
	return tr
}
