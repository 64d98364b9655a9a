package train

import "fmt"

// Config holds the training parameters. The names follow CatBoost's.
type Config struct {
	// Iterations is the number of trees.
	Iterations int `mapstructure:"iterations"`
	// Depth is the depth of every tree (1..8).
	Depth int `mapstructure:"depth"`
	// LearningRate scales every leaf value.
	LearningRate float64 `mapstructure:"learning_rate"`
	// L2LeafReg is added to the hessian sum of every leaf.
	L2LeafReg float64 `mapstructure:"l2_leaf_reg"`
	// BorderCount is the most borders a float feature is quantized into (1..254).
	BorderCount int `mapstructure:"border_count"`
	// OneHotMaxSize: categorical features with at most this many distinct
	// values use one-hot splits, the others a Borders CTR.
	OneHotMaxSize int `mapstructure:"one_hot_max_size"`
	// CtrBorderCount is the most borders of a CTR feature (1..254).
	CtrBorderCount int `mapstructure:"ctr_border_count"`
	// CtrPriorWeight is the CTR prior's denominator; its numerator is this
	// weight times the training default rate, so a category seen a few times
	// stays near the average.
	CtrPriorWeight float64 `mapstructure:"ctr_prior_weight"`
	// CtrFolds is the number of folds of the out-of-fold target statistics
	// the trees are grown on (2..32).
	CtrFolds int `mapstructure:"ctr_folds"`
	// Seed fixes the fold assignment.
	Seed uint64 `mapstructure:"seed"`
	// Workers is how many goroutines build histograms (0: GOMAXPROCS). The
	// model does not depend on it.
	Workers int `mapstructure:"workers"`
	// Info is copied into the model's model_info (keys ending in "params"
	// must hold JSON objects).
	Info map[string]string `mapstructure:"info"`
}

// DefaultConfig returns the parameters the demo model is trained with.
func DefaultConfig() Config {
	return Config{
		Iterations:     400,
		Depth:          6,
		LearningRate:   0.08,
		L2LeafReg:      3,
		BorderCount:    64,
		OneHotMaxSize:  10,
		CtrBorderCount: 32,
		CtrPriorWeight: 4,
		CtrFolds:       5,
		Seed:           1,
	}
}

// Validate reports the first parameter out of range.
func (c Config) Validate() error {
	switch {
	case c.Iterations < 1:
		return fmt.Errorf("%w: iterations %d < 1", ErrInvalidConfig, c.Iterations)
	case c.Depth < 1 || c.Depth > 8:
		return fmt.Errorf("%w: depth %d not in 1..8", ErrInvalidConfig, c.Depth)
	case !(c.LearningRate > 0 && c.LearningRate <= 1):
		return fmt.Errorf("%w: learning_rate %v not in (0, 1]", ErrInvalidConfig, c.LearningRate)
	case !(c.L2LeafReg >= 0):
		return fmt.Errorf("%w: l2_leaf_reg %v < 0", ErrInvalidConfig, c.L2LeafReg)
	case c.BorderCount < 1 || c.BorderCount > 254:
		return fmt.Errorf("%w: border_count %d not in 1..254", ErrInvalidConfig, c.BorderCount)
	case c.OneHotMaxSize < 0 || c.OneHotMaxSize > 255:
		return fmt.Errorf("%w: one_hot_max_size %d not in 0..255", ErrInvalidConfig, c.OneHotMaxSize)
	case c.CtrBorderCount < 1 || c.CtrBorderCount > 254:
		return fmt.Errorf("%w: ctr_border_count %d not in 1..254", ErrInvalidConfig, c.CtrBorderCount)
	case !(c.CtrPriorWeight > 0):
		return fmt.Errorf("%w: ctr_prior_weight %v <= 0", ErrInvalidConfig, c.CtrPriorWeight)
	case c.CtrFolds < 2 || c.CtrFolds > 32:
		return fmt.Errorf("%w: ctr_folds %d not in 2..32", ErrInvalidConfig, c.CtrFolds)
	case c.Workers < 0:
		return fmt.Errorf("%w: workers %d < 0", ErrInvalidConfig, c.Workers)
	}
	return nil
}
