package train

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// This file grows the trees: quantized features, histograms of gradients
// per (leaf, bin), the best split per level, Newton leaf values.

// featureKind says how a training feature splits.
type featureKind uint8

const (
	kindFloat  featureKind = iota + 1 // bin > cut, i.e. value > Borders[cut]
	kindOneHot                        // category code == cut
	kindCtr                           // bin > cut, i.e. CTR > Borders[cut]
)

// feature is one quantized training feature; its position in Model.features
// is the bin-feature order of the model (floats, one-hots, CTRs).
type feature struct {
	Kind    featureKind
	Index   int // float Index or categorical Index
	Borders []float32
	Bins    []uint8 // per row: float/CTR bin, or one-hot category code
	NBins   int
	HasNans bool
	// One-hot and CTR features: the categories.
	Cats catCodes
	// CTR features: the parameters and the counts over all training rows.
	Ctr       ctrParams
	CtrGood   []int32
	CtrTotal  []int32
	histogram []float64
}

// split is one level of a tree: a feature and a cut (see featureKind).
type split struct {
	Feature int
	Cut     int
}

// tree is a trained oblivious tree: split d sets bit d of the leaf index.
type tree struct {
	Splits  []split
	Leaves  []float64
	Weights []float64
}

// Train fits a model to d.
func Train(d *Dataset, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	n := d.Rows()
	m := &Model{cfg: cfg, features: nil, dataset: d.Features}
	var pos float64
	for _, y := range d.Labels {
		pos += y
	}
	rate := pos / float64(n)
	m.bias = math.Log(rate / (1 - rate))

	// Floats, then one-hots, then CTRs: the order of CatBoost's bin features.
	for i, col := range d.Floats {
		m.features = append(m.features, floatFeature(i, col, cfg.BorderCount))
	}
	cats := make([]catCodes, len(d.Cats))
	for i, col := range d.Cats {
		cats[i] = encodeCats(col)
		if len(cats[i].Hashes) <= cfg.OneHotMaxSize {
			f := &feature{Kind: kindOneHot, Index: i, Cats: cats[i], NBins: len(cats[i].Hashes)}
			f.Bins = make([]uint8, n)
			for r, c := range cats[i].Codes {
				f.Bins[r] = uint8(c)
			}
			m.features = append(m.features, f)
		}
	}
	folds := assignFolds(n, cfg.CtrFolds, cfg.Seed)
	prior := ctrParams{
		PriorNum:   float32(math.Round(cfg.CtrPriorWeight*rate*1000) / 1000),
		PriorDenom: float32(cfg.CtrPriorWeight),
		Shift:      0,
		Scale:      1,
	}
	m.prior = prior
	for i := range d.Cats {
		c := cats[i]
		if len(c.Hashes) <= cfg.OneHotMaxSize {
			continue
		}
		f := &feature{Kind: kindCtr, Index: i, Cats: c, Ctr: prior}
		f.CtrGood, f.CtrTotal = ctrCounts(c.Codes, len(c.Hashes), d.Labels)
		vals := outOfFoldCtr(c.Codes, len(c.Hashes), d.Labels, folds, cfg.CtrFolds, prior)
		f.Borders = quantileBorders(vals, cfg.CtrBorderCount)
		f.NBins = len(f.Borders) + 1
		f.Bins = make([]uint8, n)
		for r, v := range vals {
			f.Bins[r] = bin(v, f.Borders)
		}
		m.features = append(m.features, f)
	}

	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	g := &grower{m: m, labels: d.Labels, workers: workers,
		approx: make([]float64, n), grad: make([]float64, n), hess: make([]float64, n), leaf: make([]uint8, n)}
	for r := range g.approx {
		g.approx[r] = m.bias
	}
	for range cfg.Iterations {
		m.trees = append(m.trees, g.grow())
	}
	return m, nil
}

// floatFeature quantizes float column i.
func floatFeature(i int, col []float64, borderCount int) *feature {
	vals := make([]float32, len(col))
	f := &feature{Kind: kindFloat, Index: i}
	for r, v := range col {
		vals[r] = float32(v)
		if v != v {
			f.HasNans = true
		}
	}
	f.Borders = quantileBorders(vals, borderCount)
	if f.HasNans {
		// A border below every value gives missing values a bin of their own
		// (NaN is below all borders: nan_mode Min, AsFalse).
		f.Borders = append([]float32{nanBorder(vals)}, f.Borders...)
	}
	f.NBins = len(f.Borders) + 1
	f.Bins = make([]uint8, len(col))
	for r, v := range vals {
		f.Bins[r] = bin(v, f.Borders)
	}
	return f
}

// grower holds the per-row state of boosting.
type grower struct {
	m       *Model
	labels  []float64
	workers int
	approx  []float64 // current raw prediction (training-time CTRs)
	grad    []float64
	hess    []float64
	leaf    []uint8
}

// grow fits one tree to the current gradients and adds it to approx.
func (g *grower) grow() tree {
	cfg := g.m.cfg
	for r, z := range g.approx {
		p := 1 / (1 + math.Exp(-z))
		g.grad[r] = p - g.labels[r]
		g.hess[r] = p * (1 - p)
		g.leaf[r] = 0
	}
	var t tree
	for d := range cfg.Depth {
		nl := 1 << d
		g.histograms(nl)
		best, bestScore := split{Feature: -1}, math.Inf(-1)
		for fi, f := range g.m.features {
			cut, score := bestCut(f, nl, cfg.L2LeafReg)
			if cut >= 0 && score > bestScore {
				best, bestScore = split{Feature: fi, Cut: cut}, score
			}
		}
		if best.Feature < 0 {
			// Nothing splits (constant features): repeat the first split so
			// the tree keeps its depth; one side of each leaf stays empty.
			best = t.Splits[0]
		}
		t.Splits = append(t.Splits, best)
		f := g.m.features[best.Feature]
		bit := uint8(1) << d
		for r, b := range f.Bins {
			if f.goesRight(b, best.Cut) {
				g.leaf[r] |= bit
			}
		}
	}
	nl := 1 << cfg.Depth
	gs, hs := make([]float64, nl), make([]float64, nl)
	t.Weights = make([]float64, nl)
	for r, l := range g.leaf {
		gs[l] += g.grad[r]
		hs[l] += g.hess[r]
		t.Weights[l]++
	}
	t.Leaves = make([]float64, nl)
	for l := range t.Leaves {
		if hs[l]+cfg.L2LeafReg > 0 {
			t.Leaves[l] = -cfg.LearningRate * gs[l] / (hs[l] + cfg.L2LeafReg)
		}
	}
	for r, l := range g.leaf {
		g.approx[r] += t.Leaves[l]
	}
	return t
}

// goesRight reports whether a row in bin b takes the true side of cut.
func (f *feature) goesRight(b uint8, cut int) bool {
	if f.Kind == kindOneHot {
		return int(b) == cut
	}
	return int(b) > cut
}

// histograms fills every feature's gradient and hessian sums per (leaf,
// bin) for nl leaves, features spread over the workers (each feature's sums
// are computed by one goroutine in row order, so the result does not depend
// on the number of workers).
func (g *grower) histograms(nl int) {
	feats := g.m.features
	next := make(chan int, len(feats))
	for i := range feats {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(g.workers, len(feats)) {
		wg.Go(func() {
			for i := range next {
				g.histogram(feats[i], nl)
			}
		})
	}
	wg.Wait()
}

func (g *grower) histogram(f *feature, nl int) {
	size := 2 * nl * f.NBins
	if cap(f.histogram) < size {
		f.histogram = make([]float64, size)
	}
	h := f.histogram[:size]
	clear(h)
	nb := f.NBins
	grad, hess, leaf := g.grad, g.hess, g.leaf
	for r, b := range f.Bins {
		k := 2 * (int(leaf[r])*nb + int(b))
		h[k] += grad[r]
		h[k+1] += hess[r]
	}
}

// bestCut returns f's best cut for the current leaves and its score, the sum
// over leaves and sides of G²/(H+λ); -1 when f has no cut. Ties go to the
// lowest cut.
func bestCut(f *feature, nl int, l2 float64) (int, float64) {
	h := f.histogram
	nb := f.NBins
	ncut := nb - 1
	if f.Kind == kindOneHot {
		ncut = nb
		if nb < 2 {
			return -1, 0
		}
	}
	if ncut <= 0 {
		return -1, 0
	}
	scores := make([]float64, ncut)
	for l := range nl {
		base := 2 * l * nb
		var gt, ht float64
		for b := range nb {
			gt += h[base+2*b]
			ht += h[base+2*b+1]
		}
		if f.Kind == kindOneHot {
			for cut := range ncut {
				gr, hr := h[base+2*cut], h[base+2*cut+1]
				gl, hl := gt-gr, ht-hr
				scores[cut] += gain(gl, hl, l2) + gain(gr, hr, l2)
			}
			continue
		}
		var gl, hl float64
		for cut := range ncut {
			gl += h[base+2*cut]
			hl += h[base+2*cut+1]
			gr, hr := gt-gl, ht-hl
			scores[cut] += gain(gl, hl, l2) + gain(gr, hr, l2)
		}
	}
	bestCut, bestScore := 0, scores[0]
	for cut, s := range scores {
		if s > bestScore {
			bestCut, bestScore = cut, s
		}
	}
	return bestCut, bestScore
}

// gain is one side's contribution to a split score, G²/(H+λ); an empty
// side contributes nothing.
func gain(g, h, l2 float64) float64 {
	if h+l2 <= 0 {
		return 0
	}
	return g * g / (h + l2)
}

// String describes a split for debugging and errors.
func (s split) String() string { return fmt.Sprintf("feature %d cut %d", s.Feature, s.Cut) }
