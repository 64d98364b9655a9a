// Package demo holds the demo model that ships inside the scorer binary: a
// CatBoost model (gzipped CatBoost JSON) named loan-demo that predicts the
// default probability of an SBA loan application. It is an illustrative
// model trained on synthetic data: cmd/traindemo generates 300,000
// applications with package loan, labels them from loan.Risk, and trains
// it with internal/train (400 symmetric trees of depth 6). It is what
// `scorer serve` uses when no model is configured, so that a newcomer can
// score a loan with nothing else; docs/DEMO_MODEL.md describes it and its
// metrics. Regenerate it (byte for byte the same) with go generate.
package demo

//go:generate go run ../../cmd/traindemo -o loan-demo.json.gz
