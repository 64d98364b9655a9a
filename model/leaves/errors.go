package leaves

import "errors"

// ErrFormat reports a file that is not a well-formed model of the format it
// claims to be.
var ErrFormat = errors.New("leaves: malformed model")

// ErrUnsupported reports a well-formed model this adapter cannot score
// correctly (LightGBM v4 or linear trees, an unknown objective, gblinear, ...).
var ErrUnsupported = errors.New("leaves: unsupported model")

// ErrXGBoostBinaryTooNew reports an XGBoost binary model written by
// XGBoost 1.0 or later, which leaves cannot read; such models should be saved
// as JSON (Booster.save_model("model.json")).
var ErrXGBoostBinaryTooNew = errors.New("leaves: XGBoost binary model from XGBoost 1.0 or later: save it as JSON (Booster.save_model(\"model.json\")) and load that")

// ErrPredictionType reports a prediction type the model cannot produce.
var ErrPredictionType = errors.New("leaves: prediction type not available for this model")
