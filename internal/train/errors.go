package train

import "errors"

// ErrInvalidConfig reports a Config that cannot train.
var ErrInvalidConfig = errors.New("invalid training config")

// ErrInvalidData reports a Dataset that cannot be trained on (no rows,
// columns of different lengths, labels other than 0 and 1, one class only).
var ErrInvalidData = errors.New("invalid training data")
