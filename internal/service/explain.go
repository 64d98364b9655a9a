package service

import (
	"fmt"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// explainCodes reads the reason-code mapping named by explain.codes (nil
// when the key is empty) and checks explain.* against the model served
// first (explainFits). A reload to a model that explain.* does not fit is
// refused as an incompatible one is (reloader), so results that ask for
// reasons keep getting them.
func (c Config) explainCodes(mdl *model.Loaded) (*reason.Codes, error) {
	var codes *reason.Codes
	if c.Explain.Codes != "" {
		var err error
		if codes, err = reason.LoadCodes(c.Explain.Codes); err != nil {
			return nil, fmt.Errorf("explain.codes: %w", err)
		}
	}
	if err := c.explainFits(mdl, codes); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return codes, nil
}

// explainFits returns why explain.* (with codes, the mapping it names)
// does not fit mdl, nil when it does: top_k past its feature count, a
// mapped feature it lacks, or top_k > 0 on a model that cannot explain
// (which prepares its explanations: a second or so for a large model).
func (c Config) explainFits(mdl *model.Loaded, codes *reason.Codes) error {
	if err := c.Explain.CheckModel(mdl.Schema()); err != nil {
		return err
	}
	r, err := reason.NewRanker(mdl, codes)
	if err != nil {
		return fmt.Errorf("explain.codes %s with model %s: %w", c.Explain.Codes, mdl.Version, err)
	}
	if c.Explain.TopK > 0 {
		if err := r.Explains(); err != nil {
			return fmt.Errorf("explain.top_k: %d, but model %s cannot explain: %w", c.Explain.TopK, mdl.Version, err)
		}
	}
	return nil
}
