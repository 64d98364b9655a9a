// Package train fits gradient-boosted symmetric (oblivious) decision trees
// with the Logloss objective, the way CatBoost does, small enough to read:
// float features quantized into at most BorderCount float32 borders,
// low-cardinality categorical features as one-hot splits, high-cardinality
// ones through Borders CTRs (target statistics computed out of fold during
// training; the model stores counts over all training rows, as CatBoost
// does), greedy depth-wise growth of one split per level scored by the
// Newton gain, Newton leaf values with L2 regularization, and the base logit
// in the model's bias.
//
// The result is a catboost.Definition that any CatBoost JSON writer or
// evaluator understands, and a Model that predicts from the trainer's own
// representation (its own hashing, CTR arithmetic and split rule, written
// from catboost-spec.md independently of model/catboost), so that a test can
// check the two agree bit for bit.
//
// Training is deterministic: the same data and Config give the same model,
// on any number of cores.
package train
