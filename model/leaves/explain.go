package leaves

import (
	"fmt"

	"github.com/loan-scorer/loan-scorer/model"
)

// Explained reports why models scored through leaves are not explained:
// leaves keeps its trees to itself, so TreeSHAP would need this package's
// own walk of LightGBM's trees (decision types, missing-value rules,
// categorical bitsets) over the file's leaf_count and internal_count, which
// it does not have yet. XGBoost models explain when saved as JSON (package
// model/xgboost). The error wraps model.ErrNoExplanation.
func (m *Model) Explained() (int, error) {
	advice := "explanations of LightGBM models are not implemented: this backend scores through dmitryikh/leaves, which does not expose the trees TreeSHAP walks"
	if m.strictLess {
		advice = "explanations of XGBoost binary files are not implemented: save the model as JSON (Booster.save_model(\"m.json\")), whose explanations match XGBoost's pred_contribs"
	}
	return 0, fmt.Errorf("%s: %w: %s", m.format, model.ErrNoExplanation, advice)
}

// Explain returns the error of Explained.
func (m *Model) Explain(*model.Batch, []float64) error {
	_, err := m.Explained()
	return err
}
