// Package catboost loads CatBoost models (.cbm and JSON) and evaluates them in
// pure Go, bit for bit as CatBoost does.
//
// Decode turns model bytes into a Definition; Compile turns a Definition into
// a Model, the evaluator the service uses through model.Model. Load and
// LoadFile do both.
//
// Evaluation follows ../shared/docs/catboost-spec.md: float features are
// compared in float32 with a strict `>`, NaN follows the feature's rule;
// categorical values are hashed with CityHash64 v1.0 (CatHash); CTR features
// are computed from the model's tables in float32; leaves are summed in
// float64 in tree order, then scaled and biased. A batch is binarized once,
// feature by feature, into byte bins and the oblivious trees are walked over
// eight rows at a time (SWAR); single rows take a compact per-tree path. Both
// give the same bits as a straightforward reading of the spec, which the
// tests keep as a reference.
//
// Model also explains its predictions as CatBoost's ShapValues do
// (explain.go, shap_plan.go: TreeSHAP over the leaf weights, CTRs credited
// to their categorical features) and reports categorical values no table or
// one-hot split of the model knows (unseen.go).
//
// The package reads models and never writes them: model/catboost/cbjson
// writes a Definition as CatBoost JSON (the demo model's trainer uses it).
// The tests' generator of random but valid definitions (Random,
// LoanShapedConfig for the shape of the loan model) and of matching input
// rows (RandomBatch) lives in a test file, generate_test.go.
package catboost
