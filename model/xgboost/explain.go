package xgboost

import (
	"fmt"
	"math"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/treeshap"
)

// This file is Model's model.Explainer: path-dependent TreeSHAP as XGBoost's
// Booster.predict(pred_contribs=True) computes it (RegTree::TreeShap in
// src/tree/tree_model.cc). Covers are the nodes' sum_hessian; the hot child
// is the one predict takes (a missing value follows the default direction,
// a categorical split sends listed codes right); the bias column is the base
// margin plus each tree's mean value, computed bottom-up as XGBoost's
// FillNodeMeanValue does (children's means weighted by their covers, over
// the node's cover). Dart tree weights scale the leaves, and so every value.
// XGBoost computes in float32, these in float64: values agree to about 1e-6
// relative, and add up to the margin more closely than XGBoost's own. (A
// child with zero cover is skipped, as for CatBoost; XGBoost's trees have
// none, min_child_weight being at least 0 and each row's hessian positive.)

// maxExplainDepth bounds the depth of the trees explained: a walk's scratch
// memory grows with the square of the depth, and a hostile file may nest
// nodes thousands deep. XGBoost's own default is 6, lossguide trees rarely
// pass 30.
const maxExplainDepth = 256

// shapPlan is a model prepared for explanations.
type shapPlan struct {
	trees    []treeshap.Tree
	values   [][]float64 // by tree: each node's leaf value (0 at splits)
	expected []float64   // by output group: base margin + Σ tree means
	maxDepth int
	maxNodes int
}

// Explained returns the output dimensions Explain writes per row (num_class
// for multi-class models, else 1), or an error wrapping
// model.ErrNoExplanation when the file has no sum_hessian statistics.
func (m *Model) Explained() (int, error) {
	if _, err := m.shapPlan(); err != nil {
		return 0, err
	}
	return m.dim, nil
}

// Explain writes the SHAP values of every row of b into out in the layout of
// model.Explainer (XGBoost's pred_contribs: per output group, one value per
// feature, then the bias).
func (m *Model) Explain(b *model.Batch, out []float64) error {
	p, err := m.shapPlan()
	if err != nil {
		return err
	}
	if err := b.Check(&m.schema); err != nil {
		return fmt.Errorf("xgboost explain: %w", err)
	}
	nf := m.schema.NumFloat
	per := nf + 1
	w := m.dim * per
	if len(out) < b.Rows*w {
		return fmt.Errorf("xgboost explain: output slice holds %d values, want %d", len(out), b.Rows*w)
	}
	sc := m.shapPool.Get().(*shapScratch)
	for r := range b.Rows {
		row := out[r*w : (r+1)*w]
		clear(row)
		floats := b.Floats[r*nf : (r+1)*nf]
		for g, e := range p.expected {
			row[g*per+nf] = e
		}
		for t, root := range m.roots {
			tree := &p.trees[t]
			for i := range tree.Nodes {
				nd := &m.nodes[int(root)+i]
				if nd.kind != leafNode {
					sc.goYes[i] = goesRight(nd, m.cats, floats[nd.feature])
				}
			}
			g := int(m.groups[t])
			sc.walker.Walk(tree, sc.goYes, p.values[t], 1, 1, 0, row[g*per:g*per+nf])
		}
	}
	m.shapPool.Put(sc)
	return nil
}

// goesRight is the branch predict takes at a split for the value x.
func goesRight(nd *node, cats []int32, x float64) bool {
	switch {
	case x != x:
		return !nd.defaultLeft
	case nd.kind == numericNode:
		return !(float32(x) < nd.value)
	}
	return inCategories(cats[nd.catStart:nd.catEnd], float32(x))
}

type shapScratch struct {
	walker *treeshap.Walker
	goYes  []bool
}

// shapPlan prepares the explanations on first use.
func (m *Model) shapPlan() (*shapPlan, error) {
	m.shapOnce.Do(func() {
		m.shap, m.shapErr = m.newShapPlan()
		if m.shapErr == nil {
			p := m.shap
			m.shapPool.New = func() any {
				return &shapScratch{walker: treeshap.NewWalker(p.maxDepth), goYes: make([]bool, p.maxNodes)}
			}
		}
	})
	return m.shap, m.shapErr
}

func (m *Model) newShapPlan() (*shapPlan, error) {
	p := &shapPlan{expected: make([]float64, m.dim)}
	for g := range p.expected {
		p.expected[g] = float64(m.base)
	}
	for t, root := range m.roots {
		end := len(m.nodes)
		if t+1 < len(m.roots) {
			end = int(m.roots[t+1])
		}
		if m.depths[t] > maxExplainDepth {
			return nil, fmt.Errorf("xgboost explain: %w: tree %d is %d deep (TreeSHAP's scratch grows with the square of the depth; at most %d)", model.ErrNoExplanation, t, m.depths[t], maxExplainDepth)
		}
		tree := treeshap.Tree{Nodes: make([]treeshap.Node, end-int(root)), Depth: m.depths[t]}
		values := make([]float64, len(tree.Nodes))
		for i := range tree.Nodes {
			nd := &m.nodes[int(root)+i]
			cover := m.covers[int(root)+i]
			if !(cover >= 0) || math.IsInf(cover, 0) {
				return nil, fmt.Errorf("xgboost explain: %w: tree %d node %d has sum_hessian %v (a model saved without its statistics?)", model.ErrNoExplanation, t, i, cover)
			}
			tn := treeshap.Node{No: -1, Yes: -1, Leaf: int32(i), Cover: cover}
			if nd.kind == leafNode {
				values[i] = float64(nd.value)
			} else {
				tn.No, tn.Yes, tn.Feature = nd.left-root, nd.right-root, nd.feature
			}
			tree.Nodes[i] = tn
		}
		if err := tree.Check(m.schema.NumFloat, len(values)); err != nil {
			return nil, fmt.Errorf("xgboost explain: tree %d: %w", t, err)
		}
		if !(tree.Nodes[0].Cover > 0) {
			return nil, fmt.Errorf("xgboost explain: %w: tree %d has no training cover", model.ErrNoExplanation, t)
		}
		p.expected[m.groups[t]] += nodeMean(&tree, values, 0)
		p.trees = append(p.trees, tree)
		p.values = append(p.values, values)
		p.maxDepth = max(p.maxDepth, tree.Depth)
		p.maxNodes = max(p.maxNodes, len(tree.Nodes))
	}
	return p, nil
}

// nodeMean is XGBoost's FillNodeMeanValue: a leaf's value, or the children's
// means weighted by their covers over the node's own cover.
func nodeMean(t *treeshap.Tree, values []float64, n int32) float64 {
	nd := &t.Nodes[n]
	if nd.No < 0 {
		return values[n]
	}
	no, yes := &t.Nodes[nd.No], &t.Nodes[nd.Yes]
	return (nodeMean(t, values, nd.No)*no.Cover + nodeMean(t, values, nd.Yes)*yes.Cover) / nd.Cover
}
