package leaves

import (
	"fmt"
	"math"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/treeshap"
)

// This file explains LightGBM models: path-dependent TreeSHAP as LightGBM's
// predict(pred_contrib=True) computes it (Tree::TreeSHAP in
// src/io/tree.cpp), over the data counts the text model carries
// (internal_count, leaf_count). leaves keeps its trees to itself, so the
// trees are read again here, from the same validated blocks, and walked with
// LightGBM's own decision rules (Tree::NumericalDecision,
// Tree::CategoricalDecision): a missing value is 0 unless the node's missing
// type is NaN; a Zero or NaN missing type sends such values the default
// way; otherwise x <= threshold goes left; a categorical split sends codes
// listed in its bitset left, negative codes and NaN right. The expected
// value is each tree's Σ leaf value · leaf_count / internal_count of the
// root (Tree::ExpectedValue); a random forest (average_output) divides
// everything by the number of iterations.

// lgSplit is one internal node of a LightGBM tree.
type lgSplit struct {
	feature   int32
	threshold float64
	decision  uint32   // LightGBM's decision_type bits
	cats      []uint32 // categorical: the bitset of the codes that go left
}

// lgShapTree is one tree laid out for TreeSHAP: internal node i is node i,
// leaf l is node len(splits)+l; No is the left child.
type lgShapTree struct {
	tree   treeshap.Tree
	splits []lgSplit
	values []float64 // by node: leaf values
	class  int
}

// lgShap is a LightGBM model prepared for explanations.
type lgShap struct {
	trees    []lgShapTree
	expected []float64 // by class
	scale    float64   // 1, or 1/iterations for average_output
	maxDepth int
	maxNodes int
}

// buildLGShap reads the trees for explanations; an error says why the model
// cannot be explained (it still scores).
func buildLGShap(blocks [][]lgLine, h lgHeader, depths []int) (*lgShap, error) {
	s := &lgShap{expected: make([]float64, h.numClass), scale: 1}
	if h.averageOutput {
		s.scale = float64(h.numClass) / float64(h.numTrees)
	}
	t := 0
	for _, b := range blocks {
		if len(b) == 0 || len(b[0].key) < 4 || b[0].key[:4] != "Tree" {
			continue
		}
		st, err := readLGShapTree(lgParams(b), depths[t])
		if err != nil {
			return nil, fmt.Errorf("tree %d: %w", t, err)
		}
		if err := st.tree.Check(h.numFeatures, len(st.values)); err != nil {
			return nil, fmt.Errorf("tree %d: %w", t, err)
		}
		if len(st.splits) > 0 && !(st.tree.Nodes[0].Cover > 0) {
			return nil, fmt.Errorf("tree %d: internal_count of the root is %v", t, st.tree.Nodes[0].Cover)
		}
		st.class = t % h.numClass
		s.expected[st.class] += s.scale * lgExpected(&st)
		s.maxDepth = max(s.maxDepth, st.tree.Depth)
		s.maxNodes = max(s.maxNodes, len(st.tree.Nodes))
		s.trees = append(s.trees, st)
		t++
	}
	return s, nil
}

// readLGShapTree reads one validated tree block with its data counts.
func readLGShapTree(p map[string]string, depth int) (lgShapTree, error) {
	var st lgShapTree
	numLeaves, err := lgInt(p, "num_leaves", 1, math.MaxInt32/2)
	if err != nil {
		return st, err
	}
	leafValues, err := lgFloats(p, "leaf_value", numLeaves)
	if err != nil {
		return st, err
	}
	if _, ok := p["leaf_count"]; !ok {
		return st, fmt.Errorf("no leaf_count (data counts) in the model file")
	}
	leafCounts, err := lgFloats(p, "leaf_count", numLeaves)
	if err != nil {
		return st, err
	}
	n := numLeaves - 1
	st.tree.Depth = depth
	st.tree.Nodes = make([]treeshap.Node, n+numLeaves)
	st.values = make([]float64, n+numLeaves)
	for l, v := range leafValues {
		st.values[n+l] = v
		st.tree.Nodes[n+l] = treeshap.Node{No: -1, Yes: -1, Leaf: int32(n + l), Cover: leafCounts[l]}
	}
	if n == 0 {
		return st, nil
	}
	if _, ok := p["internal_count"]; !ok {
		return st, fmt.Errorf("no internal_count (data counts) in the model file")
	}
	internal, err := lgFloats(p, "internal_count", n)
	if err != nil {
		return st, err
	}
	features, err := lgInts(p, "split_feature", n, 0, math.MaxInt32)
	if err != nil {
		return st, err
	}
	thresholds, err := lgFloats(p, "threshold", n)
	if err != nil {
		return st, err
	}
	decisions, err := lgInts(p, "decision_type", n, 0, math.MaxUint32)
	if err != nil {
		return st, err
	}
	left, err := lgInts(p, "left_child", n, -int64(numLeaves), int64(n-1))
	if err != nil {
		return st, err
	}
	right, err := lgInts(p, "right_child", n, -int64(numLeaves), int64(n-1))
	if err != nil {
		return st, err
	}
	var catBounds, catBits []int64
	if numCat, _ := lgInt(p, "num_cat", 0, math.MaxInt32/2); numCat > 0 {
		if catBounds, err = lgInts(p, "cat_boundaries", numCat+1, 0, math.MaxUint32); err != nil {
			return st, err
		}
		if catBits, err = lgInts(p, "cat_threshold", -1, 0, math.MaxUint32); err != nil {
			return st, err
		}
	}
	child := func(c int64) int32 {
		if c < 0 {
			return int32(n) + int32(^c)
		}
		return int32(c)
	}
	st.splits = make([]lgSplit, n)
	for i := range n {
		sp := lgSplit{feature: int32(features[i]), threshold: thresholds[i], decision: uint32(decisions[i])}
		if sp.decision&1 != 0 { // categorical (validated: the index is in range)
			c := int(thresholds[i])
			for _, w := range catBits[catBounds[c]:catBounds[c+1]] {
				sp.cats = append(sp.cats, uint32(w))
			}
		}
		st.splits[i] = sp
		st.tree.Nodes[i] = treeshap.Node{No: child(left[i]), Yes: child(right[i]), Feature: sp.feature, Cover: internal[i]}
	}
	return st, nil
}

// lgExpected is Tree::ExpectedValue: the leaf values weighted by their
// data counts over the root's.
func lgExpected(st *lgShapTree) float64 {
	n := len(st.splits)
	if n == 0 {
		return st.values[0]
	}
	total := st.tree.Nodes[0].Cover
	e := 0.0
	for l := n; l < len(st.values); l++ {
		e += st.tree.Nodes[l].Cover / total * st.values[l]
	}
	return e
}

// goesLeft is LightGBM's decision at split sp for the value x.
func (sp *lgSplit) goesLeft(x float64) bool {
	const zeroThreshold = 1e-35
	missing := (sp.decision >> 2) & 3 // 0 none, 1 zero, 2 NaN
	if sp.decision&1 != 0 {
		if x != x || x < 0 {
			return false
		}
		c := uint64(x)
		word := c / 32
		return word < uint64(len(sp.cats)) && sp.cats[word]>>(c%32)&1 == 1
	}
	if x != x && missing != 2 {
		x = 0
	}
	if (missing == 1 && x > -zeroThreshold && x <= zeroThreshold) || (missing == 2 && x != x) {
		return sp.decision&2 != 0
	}
	return x <= sp.threshold
}

type lgScratch struct {
	walker *treeshap.Walker
	goYes  []bool
	phi    []float64
}

// explainLightGBM writes the SHAP values of every row of b into out.
func (m *Model) explainLightGBM(b *model.Batch, out []float64) error {
	s := m.lgShap
	nf := m.schema.NumFloat
	per := nf + 1
	w := m.dim * per
	if len(out) < b.Rows*w {
		return fmt.Errorf("leaves explain: output slice holds %d values, want %d", len(out), b.Rows*w)
	}
	sc := m.lgPool.Get().(*lgScratch)
	for r := range b.Rows {
		row := out[r*w : (r+1)*w]
		clear(row)
		floats := b.Floats[r*nf : (r+1)*nf]
		for c := range s.trees {
			st := &s.trees[c]
			for i := range st.splits {
				sc.goYes[i] = !st.splits[i].goesLeft(floats[st.splits[i].feature])
			}
			phi := row[st.class*per : st.class*per+nf]
			if s.scale == 1 {
				sc.walker.Walk(&st.tree, sc.goYes, st.values, 1, 1, 0, phi)
				continue
			}
			clear(sc.phi)
			sc.walker.Walk(&st.tree, sc.goYes, st.values, 1, 1, 0, sc.phi)
			for f, v := range sc.phi {
				phi[f] += s.scale * v
			}
		}
		for c, e := range s.expected {
			row[c*per+nf] = e
		}
	}
	m.lgPool.Put(sc)
	return nil
}
