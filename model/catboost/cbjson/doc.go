// Package cbjson writes a catboost.Definition as CatBoost's JSON export,
// which CatBoost's own JSON loader and catboost.Decode read back. The demo
// model's trainer (cmd/traindemo, internal/train) writes its model with it;
// the evaluator (package catboost) only reads models. Its round trips through
// catboost.Decode are tested with catboost's own tests, which reach it
// through their TestMain (model/catboost/main_test.go).
package cbjson
