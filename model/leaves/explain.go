package leaves

import (
	"fmt"

	"github.com/loan-scorer/loan-scorer/model"
)

// Explained returns the output dimensions Explain writes per row (num_class
// for LightGBM multi-class models, else 1), or an error wrapping
// model.ErrNoExplanation that says why the model cannot be explained: a
// LightGBM file without data counts, or an XGBoost binary file (save the
// model as JSON: package model/xgboost explains it).
func (m *Model) Explained() (int, error) {
	if m.strictLess {
		return 0, fmt.Errorf("%s: %w: explanations of XGBoost binary files are not implemented: save the model as JSON (Booster.save_model(\"m.json\")), whose explanations match XGBoost's pred_contribs", m.format, model.ErrNoExplanation)
	}
	if m.lgShapErr != nil {
		return 0, fmt.Errorf("%s: %w: %w", m.format, model.ErrNoExplanation, m.lgShapErr)
	}
	return m.dim, nil
}

// Explain writes the SHAP values of every row of b into out in the layout
// of model.Explainer (LightGBM's pred_contrib: per class, one value per
// feature, then the expected value). See lightgbm_shap.go.
func (m *Model) Explain(b *model.Batch, out []float64) error {
	if _, err := m.Explained(); err != nil {
		return err
	}
	if err := b.Check(&m.schema); err != nil {
		return fmt.Errorf("leaves explain: %w", err)
	}
	return m.explainLightGBM(b, out)
}
