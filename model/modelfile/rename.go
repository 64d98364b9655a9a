package modelfile

import (
	"fmt"

	"github.com/loan-scorer/loan-scorer/model"
)

// renamed is a model whose features carry other names. Only Schema differs;
// Output and Predict are the wrapped model's, so renaming costs nothing per
// row.
type renamed struct {
	model.Model
	schema model.Schema
}

// Rename returns m with its features renamed, in flat order. names must
// have one non-empty, distinct name per feature.
func Rename(m model.Model, names []string) (model.Model, error) {
	s := m.Schema()
	if len(names) != len(s.Features) {
		return nil, fmt.Errorf("%w: %d names for %d features", ErrFeatureNames, len(names), len(s.Features))
	}
	seen := make(map[string]bool, len(names))
	features := make([]model.Feature, len(s.Features))
	for i, f := range s.Features {
		n := names[f.FlatIndex]
		if n == "" || seen[n] {
			return nil, fmt.Errorf("%w: name %q empty or repeated", ErrFeatureNames, n)
		}
		seen[n] = true
		f.Name = n
		features[i] = f
	}
	inner := m
	if r, ok := m.(*renamed); ok {
		inner = r.Model
	}
	return &renamed{Model: inner, schema: model.Schema{Features: features, NumFloat: s.NumFloat, NumCat: s.NumCat}}, nil
}

// Schema returns the renamed schema.
func (r *renamed) Schema() *model.Schema { return &r.schema }

// Describe forwards to the wrapped model when it describes itself.
func (r *renamed) Describe() model.Info {
	if d, ok := r.Model.(model.Describer); ok {
		return d.Describe()
	}
	return model.Info{}
}

// Unwrap returns the model with its own feature names.
func (r *renamed) Unwrap() model.Model { return r.Model }

// Unwrap returns the backend model under any renaming wrapper, for callers
// that look for backend-specific methods.
func Unwrap(m model.Model) model.Model {
	if r, ok := m.(*renamed); ok {
		return r.Model
	}
	return m
}

// Explained forwards to the wrapped model's explanations (feature names do
// not change them).
func (r *renamed) Explained() (int, error) { return model.Explained(r.Model) }

// Explain forwards to the wrapped model's explanations.
func (r *renamed) Explain(b *model.Batch, out []float64) error { return model.Explain(r.Model, b, out) }

// Unseen forwards to the wrapped model's unseen-value report.
func (r *renamed) Unseen(b *model.Batch, out []bool) error { return model.Unseen(r.Model, b, out) }

// PredictUnseen forwards to the wrapped model's one-pass prediction and
// unseen-value report.
func (r *renamed) PredictUnseen(b *model.Batch, p model.PredictionType, out []float64, unseen []bool) error {
	return model.PredictUnseen(r.Model, b, p, out, unseen)
}
