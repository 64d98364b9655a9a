package xgboost

import (
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/loan-scorer/loan-scorer/model"
)

// nodeKind tells leaves from numerical and categorical splits.
type nodeKind uint8

const (
	leafNode nodeKind = iota
	numericNode
	categoricalNode
)

// node is one tree node in the flat layout. Children always sit after their
// parent, so a walk from a root ends.
type node struct {
	// value is the split condition, or at a leaf the leaf value (already
	// multiplied by the dart tree weight).
	value       float32
	feature     int32
	left, right int32
	// catStart:catEnd is the node's sorted category codes in Model.cats.
	catStart, catEnd uint32
	kind             nodeKind
	defaultLeft      bool
}

// Model is a loaded XGBoost tree model. It implements model.Model,
// model.Describer and model.Explainer and is safe for concurrent use.
type Model struct {
	schema    model.Schema
	objective string
	task      model.Task
	booster   string // "gbtree" or "dart"
	version   string // XGBoost version that wrote the file, "1.7.4"
	dim       int    // output groups: num_class for multi-class models, else 1
	base      float32

	nodes  []node
	covers []float64 // by node: sum_hessian, the training cover (NaN when absent)
	cats   []int32
	roots  []int32 // first node of each tree
	groups []int32 // output group of each tree (tree_info)
	depths []int

	thresholds  [][]float64
	categorical []bool // by feature: typed "c" or split on categorically

	// wide holds margin buffers for models with more than 16 classes.
	wide sync.Pool

	// Explanations are prepared on first use (explain.go).
	shapOnce sync.Once
	shap     *shapPlan
	shapErr  error
	shapPool sync.Pool
}

// Model is used through the service's interfaces.
var (
	_ model.Model     = (*Model)(nil)
	_ model.Explainer = (*Model)(nil)
)

// Schema returns the model's features, all of kind model.Float.
func (m *Model) Schema() *model.Schema { return &m.schema }

// Output describes the model's output. Loss is the XGBoost objective name
// ("binary:logistic", "count:poisson", ...).
func (m *Model) Output() model.Output {
	out := model.Output{Dimension: m.dim, Task: m.task, Loss: m.objective, ProbabilityThreshold: 0.5}
	switch m.task {
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

// Describe reports the producer version and the tree depths.
func (m *Model) Describe() model.Info {
	return model.Info{ProducerVersion: m.version, TreeDepths: slices.Clone(m.depths)}
}

// Booster returns "gbtree" or "dart".
func (m *Model) Booster() string { return m.booster }

// SplitThresholds returns, for each feature (by Index), the sorted distinct
// values the model splits on: numerical conditions and categorical codes.
// Input generators sample around them. The caller must not modify the result.
func (m *Model) SplitThresholds() [][]float64 { return m.thresholds }

// CategoricalCodes reports, by feature Index, which features are
// categorical in the model (feature_types "c", or split on by category):
// they take the integer category code as their number. The caller must not
// modify the result.
func (m *Model) CategoricalCodes() []bool { return m.categorical }

// Predict scores every row of b. RawFormulaVal is the margin
// (predict(output_margin=True)); the other types are the margins through
// the model's model.Transform: Probability is the sigmoid of the margin for
// binary models and the softmax for multi-class ones; Class is the index of
// the predicted class (binary: margin > 0); Exponent and MultiProbability
// apply exp and the sigmoid to every dimension. Margins are summed in
// float32 as XGBoost does and transformed in float64 (XGBoost transforms in
// float32, so probabilities agree to about 1e-7).
func (m *Model) Predict(b *model.Batch, p model.PredictionType, out []float64) error {
	if err := b.Check(&m.schema); err != nil {
		return fmt.Errorf("xgboost: %w", err)
	}
	tr := m.transform()
	if !tr.Supports(p) {
		if p == model.Probability || p == model.Class {
			return fmt.Errorf("%w: %s from objective %s", ErrPredictionType, p, m.objective)
		}
		return fmt.Errorf("%w: %s", ErrPredictionType, p)
	}
	w := model.Output{Dimension: m.dim, Task: m.task}.Width(p) // without the labels Output allocates
	if len(out) < b.Rows*w {
		return fmt.Errorf("xgboost: output slice holds %d values, want %d", len(out), b.Rows*w)
	}
	var stack [16]float32
	var stack64 [16]float64
	var acc []float32
	var raw []float64
	if m.dim <= len(stack) {
		acc, raw = stack[:m.dim], stack64[:m.dim]
	} else {
		buf, _ := m.wide.Get().(*margins)
		if buf == nil {
			buf = &margins{acc: make([]float32, m.dim), raw: make([]float64, m.dim)}
		}
		defer m.wide.Put(buf)
		acc, raw = buf.acc, buf.raw
	}
	nf := m.schema.NumFloat
	for r := 0; r < b.Rows; r++ {
		m.margins(b.Floats[r*nf:(r+1)*nf], acc)
		for g, v := range acc {
			raw[g] = float64(v)
		}
		tr.Apply(p, raw, out[r*w:(r+1)*w])
	}
	return nil
}

// margins is the scratch of a model with more than 16 output groups.
type margins struct {
	acc []float32
	raw []float64
}

// transform describes how the model's margins become predictions.
func (m *Model) transform() model.Transform {
	return model.Transform{Task: m.task, Dimension: m.dim}
}

// margins sums the trees for one row into acc, in float32 and in model order
// as XGBoost's CPU predictor does.
func (m *Model) margins(row []float64, acc []float32) {
	for g := range acc {
		acc[g] = m.base
	}
	nodes, cats := m.nodes, m.cats
	for t, i := range m.roots {
		for {
			nd := &nodes[i]
			if nd.kind == leafNode {
				acc[m.groups[t]] += nd.value
				break
			}
			x := row[nd.feature]
			switch {
			case x != x: // NaN: missing
				if nd.defaultLeft {
					i = nd.left
				} else {
					i = nd.right
				}
			case nd.kind == numericNode:
				if float32(x) < nd.value {
					i = nd.left
				} else {
					i = nd.right
				}
			default:
				if inCategories(cats[nd.catStart:nd.catEnd], float32(x)) {
					i = nd.right
				} else {
					i = nd.left
				}
			}
		}
	}
}

// inCategories reports whether the category code x is one of the sorted
// codes: XGBoost truncates the value to an integer, and negative codes or
// codes ≥ 2^24 are in no set.
func inCategories(codes []int32, x float32) bool {
	if !(x >= 0 && x < maxCategory) {
		return false
	}
	c := int32(x)
	lo, hi := 0, len(codes)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if codes[mid] < c {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo < len(codes) && codes[lo] == c
}
