package modelfile

import "errors"

// ErrUnknownFormat reports content that is none of the supported model
// formats.
var ErrUnknownFormat = errors.New("modelfile: unknown model format")

// ErrXGBoostUBJSON reports an XGBoost model saved as UBJSON (XGBoost ≥ 1.6's
// ".ubj", and the default of save_model in 2.x for other extensions), which
// is not read: save it with a ".json" file name instead.
var ErrXGBoostUBJSON = errors.New("modelfile: XGBoost UBJSON model: save it as JSON (Booster.save_model(\"model.json\")) and load that")

// ErrNotRegular reports a model path that is not a regular file (a FIFO, a
// device, a directory), refused before anything is read from it.
var ErrNotRegular = errors.New("modelfile: model path is not a regular file")

// ErrTooLarge reports a file over the size limit.
var ErrTooLarge = errors.New("modelfile: model file too large")

// ErrFeatureNames reports Options.FeatureNames that do not fit the model.
var ErrFeatureNames = errors.New("modelfile: feature names do not fit the model")
