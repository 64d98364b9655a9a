package xgboost

import "errors"

// ErrFormat reports a file that is not a well-formed XGBoost JSON model.
var ErrFormat = errors.New("xgboost: malformed model")

// ErrUnsupported reports a valid XGBoost model this evaluator cannot score
// (gblinear, an unknown objective, multi-target trees, ...).
var ErrUnsupported = errors.New("xgboost: unsupported model")

// ErrPredictionType reports a prediction type the model cannot produce, such
// as Probability from a regressor.
var ErrPredictionType = errors.New("xgboost: prediction type not available for this model")
