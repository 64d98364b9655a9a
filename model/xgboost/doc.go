// Package xgboost evaluates XGBoost models saved as JSON
// (Booster.save_model("m.json"), XGBoost 1.0 and later) in pure Go.
//
// Load decodes learner.gradient_booster (gbtree, and dart with its tree
// weights), learner.learner_model_param (base_score, num_class,
// num_feature), learner.objective and learner.feature_names. The trees are
// re-laid out in one flat node array, in depth-first order, so evaluation is a
// short loop per tree that allocates nothing.
//
// Evaluation follows XGBoost's CPU predictor: inputs are compared as float32
// (x < split_condition goes left), a missing value (NaN) follows the node's
// default direction, and the margin is accumulated in float32 starting from
// the base score's margin, tree by tree in model order, so RawFormulaVal
// matches predict(output_margin=True) bit for bit. Categorical splits
// (XGBoost ≥ 1.6, enable_categorical) take the integer category code as a
// number: a code listed in the node goes right, any other code (unseen,
// negative or ≥ 2^24) goes left.
//
// Every feature is a model.Float feature named by learner.feature_names, or
// by its position ("0", "1", ...) when the model carries no names.
// Prediction uses every tree: a model trained with early stopping is
// evaluated like Booster.predict without iteration_range.
package xgboost
