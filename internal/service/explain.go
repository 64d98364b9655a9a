package service

import (
	"fmt"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// explainCodes reads the reason-code mapping named by explain.codes (nil
// when the key is empty) and checks explain.* against the model served
// first: top_k within its feature count, every feature the mapping names
// among its features. A reloaded model the mapping does not fit still
// scores; results that ask for reasons then carry reasons_error saying
// which features are missing.
func (c Config) explainCodes(mdl *model.Loaded) (*reason.Codes, error) {
	if err := c.Explain.CheckModel(mdl.Schema()); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	var codes *reason.Codes
	if c.Explain.Codes != "" {
		var err error
		if codes, err = reason.LoadCodes(c.Explain.Codes); err != nil {
			return nil, fmt.Errorf("explain.codes: %w", err)
		}
	}
	r, err := reason.NewRanker(mdl, codes)
	if err != nil {
		return nil, fmt.Errorf("explain.codes %s with model %s: %w", c.Explain.Codes, mdl.Version, err)
	}
	if c.Explain.TopK > 0 {
		if err := r.Explains(); err != nil {
			return nil, fmt.Errorf("explain.top_k: %d, but model %s cannot explain: %w", c.Explain.TopK, mdl.Version, err)
		}
	}
	return codes, nil
}
