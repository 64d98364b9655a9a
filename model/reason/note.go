package reason

import (
	"errors"
	"fmt"

	"github.com/loan-scorer/loan-scorer/model"
)

// Note is what one scored row carries beyond its values: its reasons, when
// it asked for them, and the categorical features whose value the model
// never saw. The zero Note adds nothing to a result.
type Note struct {
	// Asked is how many reasons the row asked for; 0 means none.
	Asked int
	// Reasons are the row's principal reasons, the largest contribution
	// first: at most Asked, and only reasons that pushed toward the
	// outcome (a positive contribution), so there may be fewer, even none.
	// Set when Asked > 0 and Err is nil.
	Reasons []Reason
	// Err says why a row that asked for reasons has none: the model
	// cannot explain (it wraps model.ErrNoExplanation), or its output has
	// no single outcome to explain (ErrNoOutcome). The score stands.
	Err error
	// Unseen names, in the model's flat order, the categorical features
	// whose value is in none of the model's tables; nil when there is
	// none or the model cannot tell.
	Unseen []string
}

// Empty reports whether n adds nothing to a result (n may be nil).
func (n *Note) Empty() bool { return n == nil || (n.Asked == 0 && len(n.Unseen) == 0) }

// Reason is one principal reason: a feature, or a reason code summing the
// contributions of its features.
type Reason struct {
	// Code is the reason code, nil for a feature no code names.
	Code *Code
	// Contribution is the reason's SHAP value on the raw scale (log-odds
	// for a binary classifier): the sum of its features' contributions.
	Contribution float64
	// Features are the reason's features in the model's flat order: the
	// feature itself, or every feature of the code that the model has.
	Features []Value
}

// Value is one feature of a reason: its value as the decoder handed it to
// the model, and its own contribution.
type Value struct {
	Name string
	Kind model.FeatureKind
	// Number is a Float feature's value (NaN: missing).
	Number float64
	// Category is a Categorical feature's value.
	Category string
	// Contribution is the feature's SHAP value.
	Contribution float64
}

// ErrNoOutcome marks a model whose output has no single outcome to give
// reasons for: a regressor with several dimensions, or a multi-label model.
var ErrNoOutcome = errors.New("the model's output has no single outcome to explain")

// CodeUnavailable is the error code a result carries when its reasons were
// asked for and cannot be given (Note.Err).
const CodeUnavailable = "explanation_unavailable"

// MaxK returns the most reasons a row of a model with schema s may ask
// for: its feature count (a mapping only lowers how many reasons exist).
func MaxK(s *model.Schema) int { return len(s.Features) }

// Config is the explain.* configuration keys.
type Config struct {
	// TopK is how many reasons an async message gets when it does not say
	// (header Explain); 0, the default, gives none. At most the model's
	// feature count (checked at start; a reloaded model with fewer
	// features gives all of its reasons).
	TopK int `mapstructure:"top_k"`
	// Codes is a YAML file mapping features to reason codes (LoadCodes);
	// empty: every feature is a reason of its own.
	Codes string `mapstructure:"codes"`
}

// Validate reports an invalid field, named by its key.
func (c Config) Validate() error {
	if c.TopK < 0 {
		return fmt.Errorf("explain.top_k: %d, want 0 (no reasons) or more", c.TopK)
	}
	return nil
}

// CheckModel reports whether c fits the model with schema s: top_k within
// its feature count.
func (c Config) CheckModel(s *model.Schema) error {
	if c.TopK > MaxK(s) {
		return fmt.Errorf("explain.top_k: %d, but the model has %d features", c.TopK, MaxK(s))
	}
	return nil
}
