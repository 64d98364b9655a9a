// Package modelfile opens a model file of any supported format, detected
// from its content: CatBoost (.cbm, JSON export, gzipped JSON export),
// XGBoost JSON (evaluated by model/xgboost), LightGBM text and XGBoost ≤ 0.90
// binary (both through model/leaves).
//
// A File names the model the way results do: Version() is
// "<name>@<first 12 hex digits of the file's SHA-256>". Options can force
// the format and rename the features (for models whose features carry no
// names); renaming wraps the model and costs nothing per row.
package modelfile
