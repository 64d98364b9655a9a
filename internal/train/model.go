package train

import (
	"math"
)

// Model is a trained model. It predicts from the trainer's own
// representation (Predict), and converts to a catboost.Definition
// (Definition) for writing and for any CatBoost evaluator.
type Model struct {
	cfg      Config
	dataset  []Feature
	features []*feature
	trees    []tree
	bias     float64
	prior    ctrParams
}

// Trees returns the number of trees.
func (m *Model) Trees() int { return len(m.trees) }

// Bias returns the model's bias: the logit of the training default rate.
func (m *Model) Bias() float64 { return m.bias }

// PredictRaw returns the raw value (log-odds) of one row: floats and cats
// in the order of the dataset's float and categorical columns, NaN for a
// missing float. It evaluates the model as CatBoost evaluates the
// definition: floats compared in float32 with "value > border" (NaN below
// every border), categories hashed with CatBoost's hash, CTRs from the
// counts over all training rows in float32, leaves summed in tree order,
// then bias added.
func (m *Model) PredictRaw(floats []float64, cats []string) float64 {
	var hashes [64]uint32
	h := hashes[:0]
	for _, s := range cats {
		h = append(h, catHash(s))
	}
	var sum float64
	for ti := range m.trees {
		t := &m.trees[ti]
		idx := 0
		for d, s := range t.Splits {
			if m.features[s.Feature].test(s.Cut, floats, h) {
				idx |= 1 << d
			}
		}
		sum += t.Leaves[idx]
	}
	return sum + m.bias
}

// Predict returns the probability of label 1 for one row (see PredictRaw).
func (m *Model) Predict(floats []float64, cats []string) float64 {
	return 1 / (1 + math.Exp(-m.PredictRaw(floats, cats)))
}

// test evaluates the split (f, cut) on one row given its category hashes.
func (f *feature) test(cut int, floats []float64, hashes []uint32) bool {
	switch f.Kind {
	case kindFloat:
		v := float32(floats[f.Index])
		return v == v && v > f.Borders[cut]
	case kindOneHot:
		return int32(hashes[f.Index]) == int32(f.Cats.Hashes[cut])
	default:
		return f.ctrValue(hashes[f.Index]) > f.Borders[cut]
	}
}

// ctrValue is the final CTR of a category: counts over all training rows,
// the prior alone for a category never seen.
func (f *feature) ctrValue(h uint32) float32 {
	lo, hi := 0, len(f.Cats.Hashes)
	for lo < hi {
		mid := (lo + hi) / 2
		if f.Cats.Hashes[mid] < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(f.Cats.Hashes) && f.Cats.Hashes[lo] == h {
		return f.Ctr.value(f.CtrGood[lo], f.CtrTotal[lo])
	}
	return f.Ctr.value(0, 0)
}
