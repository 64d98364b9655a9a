// Package reason turns a model's explanations into what a result carries
// beyond its score: the principal reasons of the outcome (the top features
// by SHAP contribution toward it, optionally summed into reason codes) and
// the categorical values the model never saw.
//
// A Ranker is built once per model (NewRanker) from an optional reason-code
// mapping (Codes, read from YAML by ParseCodes or LoadCodes); its Annotate
// method works on a whole batch, the way the batcher and the bulk scorer
// score: one UnseenReporter call for every row, and one Explainer call for
// just the rows that asked for reasons. Notes (one per row) hold the result.
//
// What the numbers mean, and how to write a mapping: docs/EXPLANATIONS.md.
package reason
