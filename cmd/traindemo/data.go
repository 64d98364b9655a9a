package main

import (
	"github.com/loan-scorer/loan-scorer/internal/train"
	"github.com/loan-scorer/loan-scorer/loan"
)

// Features returns the training columns in the seed's flat order.
func Features() []train.Feature {
	cats := make(map[string]bool)
	for _, n := range loan.CatFields() {
		cats[n] = true
	}
	var fs []train.Feature
	for _, n := range loan.FlatFields() {
		fs = append(fs, train.Feature{Name: n, Categorical: cats[n]})
	}
	return fs
}

// Dataset draws n labelled applications from g.
func Dataset(g *loan.Generator, n int) *train.Dataset {
	d := train.NewDataset(Features())
	floats := make([]float64, len(loan.FloatFields()))
	cats := make([]string, len(loan.CatFields()))
	for range n {
		l := g.Labeled()
		l.Floats(floats)
		l.Cats(cats)
		d.Append(floats, cats, float64(l.Default))
	}
	return d
}

// Metrics compares a model with the true risk on held-out rows.
type Metrics struct {
	Rate                   float64
	BayesAUC, BayesLogLoss float64
	AUC, LogLoss           float64
}

// Evaluate scores rows with m's own predictions and with loan.Risk.
func Evaluate(m *train.Model, rows []loan.Labeled) Metrics {
	floats := make([]float64, len(loan.FloatFields()))
	cats := make([]string, len(loan.CatFields()))
	p := make([]float64, len(rows))
	bayes := make([]float64, len(rows))
	y := make([]float64, len(rows))
	var pos float64
	for i := range rows {
		rows[i].Floats(floats)
		rows[i].Cats(cats)
		p[i] = m.Predict(floats, cats)
		bayes[i] = rows[i].DefaultProbaTrue
		y[i] = float64(rows[i].Default)
		pos += y[i]
	}
	return Metrics{
		Rate:         pos / float64(len(rows)),
		BayesAUC:     train.AUC(bayes, y),
		BayesLogLoss: train.LogLoss(bayes, y),
		AUC:          train.AUC(p, y),
		LogLoss:      train.LogLoss(p, y),
	}
}
