// Package leaves scores LightGBM text models, and XGBoost binary models
// written by XGBoost 0.90 or older, through github.com/dmitryikh/leaves.
//
// leaves trusts its input: a malformed file can make it panic, loop forever
// at prediction time or allocate without bound, and it silently mis-scores
// LightGBM linear trees. So this package reads every file first with its
// own bounded parser (lightgbm.go, xgbinary.go), checks the header, every
// tree's shape (each node reached exactly once from the root, children and
// split features in range, categorical bitsets consistent) and refuses what
// leaves would mis-read, before leaves sees the bytes. XGBoost 1.0+ binary
// files (the "binf" header, or a version in the header) and UBJSON are refused
// with an error that says to save the model as JSON (package model/xgboost
// reads those).
//
// LightGBM format versions v2, v3 and v4 load. leaves itself accepts only v2
// and v3; v4 (LightGBM ≥ 4.0) writes the same header and tree fields, so it
// is handed to leaves labelled v3 (LightGBM 4's own raw predictions for a
// 20-tree binary model were reproduced exactly that way). Linear trees
// (is_linear=1), which leaves would silently score as constant leaves, are
// refused. leaves' own transformations are not used:
// the adapter loads raw scores and applies the objective through
// model.Transform (sigmoid with LightGBM's sigmoid parameter, softmax, exp),
// which keeps Predict free of per-row allocations.
//
// Every feature is a model.Float feature, named by the model's
// feature_names (LightGBM) or by position ("0", "1", ...). A LightGBM
// categorical feature takes its integer category code as the number.
//
// LightGBM models also explain their predictions (model.Explainer): the
// trees are read again from the validated file and walked with TreeSHAP
// over their data counts (lightgbm_shap.go), as LightGBM's pred_contrib
// does. XGBoost binary files are not explained.
package leaves
