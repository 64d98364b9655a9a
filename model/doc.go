// Package model defines what every model backend offers the service: the
// feature schema a request is decoded against, the shape of the output, and a
// batch prediction call into a caller-owned slice. Loaded is a model ready to
// serve with its identity (Version) and Holder the current one, swapped
// atomically on reload. Transform is the one copy of the output transforms
// (sigmoid, softmax, exp, class decisions) every backend applies to its raw
// values, and model/modeltest the conformance suite every backend passes.
// Optional interfaces add
// explanations (Explainer: SHAP values in CatBoost's ShapValues layout) and
// the categorical values a model never saw (UnseenReporter).
//
// Backends live in sub-packages: model/catboost (our own pure-Go CatBoost
// evaluator), model/xgboost (XGBoost JSON models) and model/leaves (LightGBM
// through dmitryikh/leaves). model/modelfile opens a file of any of these
// formats, detected from its content. model/treeshap is the path-dependent
// TreeSHAP walk the backends' explanations share.
package model
