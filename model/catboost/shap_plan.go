package catboost

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/treeshap"
)

// This file prepares a model for explanations: every tree laid out for
// TreeSHAP with CatBoost's covers (the leaf weights), the expected value,
// and for oblivious trees of depth ≤ tableMaxDepth the SHAP values of every
// leaf, precomputed. An oblivious tree's leaf index fixes the outcome of
// every split of the tree, so a row's SHAP values in that tree depend on its
// leaf alone: explaining it is then one addition per credited feature. A
// non-symmetric tree's values depend on the row's outcome at every node, on
// and off its path, so those trees are walked per row (O(leaves · depth²)).
//
// Conventions, from catboost/libs/fstr (shap_values.cpp,
// shap_prepared_trees.cpp) and checked against CatBoost's own ShapValues:
//   - oblivious trees are expanded with the LAST split at the root and split
//     0 just above the leaves;
//   - a subtree's cover is the sum of its leaf weights; a child with zero
//     cover is not descended into;
//   - a tree's expected value is Σ leaf value · weight / Σ weight; the
//     model's is their sum plus the bias;
//   - MultiClass models take leaf values relative to the tree's mean over
//     classes. That changes nothing but the rounding, except for a row in
//     a zero-weight leaf (where the walk stops short): its values then add
//     up to the prediction plus that mean, the same shift for every class,
//     which leaves the probabilities as they are;
//   - a model with a non-zero value in a zero-weight leaf (weight ≤ 1e-13,
//     which the walk treats as zero, treeshap.ZeroCover) is refused, as
//     CatBoost refuses it without the training data: such a row's values
//     would not add up to its prediction.
// Beyond CatBoost: a scale other than 1 (which CatBoost refuses) multiplies
// every value and the trees' part of the expected value, SHAP values being
// linear in the leaf values.

// tableMaxDepth is the deepest oblivious tree whose leaves' SHAP values are
// precomputed (2^8 leaves; its leaf indexes are bytes).
const tableMaxDepth = 8

// narrowWidth is the most features a tree may credit for the
// one-dimension kernel (addNarrow).
const narrowWidth = 16

// tableBudget bounds the memory of all precomputed tables, in float64
// values (64 MiB); trees past it are walked per row like deeper ones.
const tableBudget = 8 << 20

// shapPlan is a model prepared for explanations. It is immutable once built.
type shapPlan struct {
	dims      int // dimensions explained
	stride    int // leaf values per leaf (ApproxDimension)
	features  int // flat features
	scale     float64
	expected  []float64 // by dimension
	maxDepth  int       // deepest TreeSHAP tree
	maxLocal  int       // most classes in one tree
	maxNodes  int       // most TreeSHAP nodes in one tree
	deepNodes int       // most nodes of an oblivious tree laid out per row
	trees     []shapTree
}

// shapTree is one tree prepared for explanations.
type shapTree struct {
	tree    treeshap.Tree
	classes treeClasses
	values  []float64 // the tree's leaf values
	offset  float64   // subtracted from every leaf value (MultiClass)
	depth   int       // oblivious depth; 0 for non-symmetric trees
	// Oblivious trees: the leaf weights, and the local class tested at
	// each depth from the root (levels[0] is the last split's).
	weights []float64
	levels  []int32
	// evalNode[n] is the evaluator's node of TreeSHAP node n (non-symmetric
	// trees; -1 at leaves).
	evalNode []int32
	// table holds, for oblivious trees within the limits, the scaled SHAP
	// values of each leaf: 2^depth × dims × stride, leaf-major, the value of
	// classes.feats[j] at j; nil when the tree is walked per row.
	table  []float64
	stride int
	// narrow marks a table the one-dimension kernel reads (stride 4, 6, 8,
	// 12 or 16; at most narrowWidth features): cols holds the tree's features
	// padded with the model's feature count, the expected value's column,
	// which the kernel never copies out (the padding values are 0).
	narrow bool
	cols   [narrowWidth]int32
}

// newShapPlan prepares d for explanations; the error wraps
// model.ErrNoExplanation and says why the model cannot be explained.
func newShapPlan(d *Definition, e *evaluator, o model.Output, nFeatures int) (*shapPlan, error) {
	fc, err := buildFeatureClasses(d)
	if err != nil {
		return nil, fmt.Errorf("catboost explain: %w: %w", model.ErrNoExplanation, err)
	}
	p := &shapPlan{dims: d.ApproxDimension, stride: d.ApproxDimension, features: nFeatures, scale: d.Scale}
	if o.Loss == "RMSEWithUncertainty" {
		p.dims = 1 // CatBoost explains the mean, not the variance
	}
	multiClass := isMultiClass(o)
	sums := make([]float64, p.dims)
	for t := range len(d.Oblivious) + len(d.Trees) {
		var st shapTree
		if t < len(d.Oblivious) {
			ot := &d.Oblivious[t]
			if err := p.checkWeights(t, ot.LeafValues, ot.LeafWeights); err != nil {
				return nil, fmt.Errorf("catboost explain: %w: %w", model.ErrNoExplanation, err)
			}
			st = obliviousShapTree(ot, &fc)
		} else {
			nt := &d.Trees[t-len(d.Oblivious)]
			if err := p.checkWeights(t, nt.LeafValues, nt.LeafWeights); err != nil {
				return nil, fmt.Errorf("catboost explain: %w: %w", model.ErrNoExplanation, err)
			}
			st = nonSymmetricShapTree(nt, &fc, d.ApproxDimension, e.roots[t-len(d.Oblivious)])
		}
		if st.tree.Nodes != nil && !(st.tree.Nodes[0].Cover > 0) {
			return nil, fmt.Errorf("catboost explain: %w: tree %d: no weight reaches its leaves", model.ErrNoExplanation, t)
		}
		mean := p.treeMean(&st)
		if multiClass {
			st.offset = 0
			for _, m := range mean {
				st.offset += m
			}
			st.offset /= float64(len(mean))
		}
		for k := range sums {
			sums[k] += mean[k]
		}
		if st.tree.Nodes != nil {
			if err := st.tree.Check(len(st.classes.global), len(st.values)/p.stride); err != nil {
				return nil, fmt.Errorf("catboost explain: tree %d: %w", t, err)
			}
		}
		p.maxDepth = max(p.maxDepth, st.tree.Depth)
		p.maxLocal = max(p.maxLocal, len(st.classes.global))
		p.maxNodes = max(p.maxNodes, len(st.tree.Nodes))
		if st.tree.Nodes == nil {
			p.maxNodes = max(p.maxNodes, 1<<(st.depth+1)-1)
			p.deepNodes = max(p.deepNodes, 1<<(st.depth+1)-1)
		}
		p.trees = append(p.trees, st)
	}
	p.expected = make([]float64, p.dims)
	for k := range p.expected {
		p.expected[k] = float64(p.scale*sums[k]) + d.Bias[k] // no FMA, as predictions (spec §4.1)
	}
	p.precompute()
	return p, nil
}

// checkWeights refuses what CatBoost cannot explain from the model alone.
func (p *shapPlan) checkWeights(t int, values, weights []float64) error {
	if len(weights) == 0 {
		return fmt.Errorf("tree %d has no leaf weights (saved by CatBoost ≥ 0.9 by default; without them SHAP values need the training data)", t)
	}
	total := 0.0
	for l, w := range weights {
		if !(w >= 0) {
			return fmt.Errorf("tree %d: leaf %d has weight %v", t, l, w)
		}
		total += w
		if treeshap.ZeroCover(w) { // the walk never reaches such a leaf
			abs := 0.0
			for _, v := range values[l*p.stride : (l+1)*p.stride] {
				abs += math.Abs(v)
			}
			if abs >= 1e-9 {
				return fmt.Errorf("tree %d: leaf %d has value %v but weight %v, zero for the walk (CatBoost needs the training data to explain such a model)", t, l, values[l*p.stride], w)
			}
		}
	}
	if !(total > 0) || math.IsInf(total, 0) {
		return fmt.Errorf("tree %d: leaf weights sum to %v", t, total)
	}
	// A weight that is a vanishing share of its tree's (real weights are
	// document counts or sums of sample weights) makes the cover ratios of
	// the path-dependent recursion underflow: the values would silently
	// stop adding up to the prediction. CatBoost's doubles would do the
	// same; refuse the model instead of explaining it wrongly.
	for l, w := range weights {
		if w > 0 && w < total*minWeightShare {
			return fmt.Errorf("tree %d: leaf %d has weight %v, a share %.3g of the tree's %v (below %g, too small to compute with)", t, l, w, w/total, total, minWeightShare)
		}
	}
	return nil
}

// minWeightShare is the smallest share of its tree's total weight a leaf
// may have and still be explained. Along a path the cover ratios multiply
// to the leaf's share, so shares above it keep every product of the
// recursion a normal float64.
const minWeightShare = 1e-30

// treeMean returns the tree's weighted mean leaf value per dimension
// (CalcMeanValueForTree).
func (p *shapPlan) treeMean(st *shapTree) []float64 {
	mean := make([]float64, p.dims)
	total := 0.0
	add := func(leaf int, w float64) {
		total += w
		for k := range mean {
			mean[k] += st.values[leaf*p.stride+k] * w
		}
	}
	if st.evalNode == nil {
		for l, w := range st.weights {
			add(l, w)
		}
	} else {
		for _, n := range st.tree.Nodes {
			if n.No < 0 {
				add(int(n.Leaf), n.Cover)
			}
		}
	}
	for k := range mean {
		mean[k] /= total
	}
	return mean
}

// obliviousShapTree prepares an oblivious tree. Its TreeSHAP layout (see
// layoutOblivious) is kept for trees of depth ≤ tableMaxDepth; deeper ones
// (2^(depth+1) nodes) are laid out again per row into scratch memory, which
// costs little beside their walk and bounds the memory a hostile model can
// take.
func obliviousShapTree(ot *ObliviousTree, fc *featureClasses) shapTree {
	depth := len(ot.Splits)
	st := shapTree{values: ot.LeafValues, depth: depth, weights: ot.LeafWeights, levels: make([]int32, depth)}
	for d := range depth {
		st.levels[d] = st.classes.local(fc.ofSplit[ot.Splits[depth-1-d]])
	}
	st.tree.Depth = depth
	if depth <= tableMaxDepth {
		st.tree.Nodes = make([]treeshap.Node, 1<<(depth+1)-1)
		st.layoutOblivious(st.tree.Nodes)
	}
	st.classes.finish(fc)
	return st
}

// layoutOblivious expands the oblivious tree into nodes (2^(depth+1)-1 of
// them), a binary tree whose root tests the last split: node (depth d,
// index i) is nodes[2^d-1+i], tests Splits[D-1-d], and its children are
// (d+1, 2i) when false and (d+1, 2i+1) when true, so the leaf reached is the
// evaluator's leaf index.
func (st *shapTree) layoutOblivious(nodes []treeshap.Node) {
	depth := st.depth
	first := (1 << depth) - 1
	for l := range 1 << depth {
		nodes[first+l] = treeshap.Node{No: -1, Yes: -1, Leaf: int32(l), Cover: st.weights[l]}
	}
	for d := depth - 1; d >= 0; d-- {
		row, below := (1<<d)-1, (1<<(d+1))-1
		for i := range 1 << d {
			no, yes := int32(below+2*i), int32(below+2*i+1)
			nodes[row+i] = treeshap.Node{No: no, Yes: yes, Feature: st.levels[d], Cover: nodes[no].Cover + nodes[yes].Cover}
		}
	}
}

// nonSymmetricShapTree lays a non-symmetric tree out for TreeSHAP, in
// preorder. A node with one child is a split whose missing side is a leaf
// holding the node's own value and weight: the tree CatBoost's JSON export
// shows. (CatBoost's recursion over the .cbm layout credits that leaf
// without the node's split, which makes the values not add up to the
// prediction; the expanded tree keeps them additive and gives the values
// CatBoost computes for the JSON export of the same model.) root is the
// tree's first node in the evaluator.
func nonSymmetricShapTree(t *Tree, fc *featureClasses, dim int, root int32) shapTree {
	st := shapTree{values: t.LeafValues}
	leafNode := func(off uint32) {
		st.tree.Nodes = append(st.tree.Nodes, treeshap.Node{No: -1, Yes: -1, Leaf: int32(off) / int32(dim), Cover: t.LeafWeights[int(off)/dim]})
		st.evalNode = append(st.evalNode, -1)
	}
	var add func(n, depth int) float64
	add = func(n, depth int) float64 {
		nd := t.Nodes[n]
		st.tree.Depth = max(st.tree.Depth, depth)
		if nd.Left == 0 && nd.Right == 0 {
			leafNode(nd.LeafOffset)
			return st.tree.Nodes[len(st.tree.Nodes)-1].Cover
		}
		at := len(st.tree.Nodes)
		st.tree.Nodes = append(st.tree.Nodes, treeshap.Node{Feature: st.classes.local(fc.ofSplit[nd.Split])})
		st.evalNode = append(st.evalNode, root+int32(n))
		cover := 0.0
		child := func(diff uint16) int32 {
			c := int32(len(st.tree.Nodes))
			if diff == 0 {
				leafNode(nd.LeafOffset)
				st.tree.Depth = max(st.tree.Depth, depth+1)
				cover += st.tree.Nodes[c].Cover
			} else {
				cover += add(n+int(diff), depth+1)
			}
			return c
		}
		no := child(nd.Left)
		yes := child(nd.Right)
		st.tree.Nodes[at].No, st.tree.Nodes[at].Yes, st.tree.Nodes[at].Cover = no, yes, cover
		return cover
	}
	add(0, 0)
	st.classes.finish(fc)
	return st
}

// precompute fills the tables of the oblivious trees within the limits, in
// model order, until the budget is spent. The trees are shared out among
// GOMAXPROCS goroutines: each leaf costs a walk of the whole tree.
func (p *shapPlan) precompute() {
	left := tableBudget
	var todo []int
	for i := range p.trees {
		st := &p.trees[i]
		if st.evalNode != nil || st.depth > tableMaxDepth {
			continue
		}
		k := len(st.classes.feats)
		stride := k
		if p.dims == 1 && k <= narrowWidth {
			stride = narrowStride(k)
		}
		size := (1 << st.depth) * p.dims * stride
		if size > left {
			continue
		}
		left -= size
		st.stride, st.narrow = stride, p.dims == 1 && k <= narrowWidth
		if st.narrow {
			for j := range st.cols {
				st.cols[j] = int32(p.features)
				if j < k {
					st.cols[j] = st.classes.feats[j]
				}
			}
		}
		st.table = make([]float64, size, size+narrowWidth) // narrow kernels load narrowWidth values a leaf
		todo = append(todo, i)
	}
	workers := min(runtime.GOMAXPROCS(0), len(todo))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			sc := p.newScratch()
			for n := w; n < len(todo); n += workers {
				st := &p.trees[todo[n]]
				width := p.dims * st.stride
				for leaf := range 1 << st.depth {
					p.walkOblivious(sc, st, leaf)
					p.unpack(sc, st, st.table[leaf*width:(leaf+1)*width], st.stride, func(j int32) int { return int(j) })
				}
			}
		})
	}
	wg.Wait()
}

// narrowStride is the table stride of a narrow tree crediting k features:
// 4, 6, 8, 12 or 16 values a leaf.
func narrowStride(k int) int {
	for _, s := range []int{4, 6, 8, 12} {
		if k <= s {
			return s
		}
	}
	return narrowWidth
}

// shapScratch is the per-call scratch memory of explanations.
type shapScratch struct {
	walker *treeshap.Walker
	goYes  []bool
	phi    []float64       // local classes × dims
	leaves []uint16        // a block's leaf indexes in one oblivious tree
	acc    []float64       // a chunk's sums from narrow tables, feature-major
	nodes  []treeshap.Node // a deep oblivious tree laid out for one row
	deep   treeshap.Tree
}

func (p *shapPlan) newScratch() *shapScratch {
	return &shapScratch{
		walker: treeshap.NewWalker(p.maxDepth),
		goYes:  make([]bool, p.maxNodes),
		nodes:  make([]treeshap.Node, p.deepNodes),
		phi:    make([]float64, max(p.maxLocal, 1)*p.dims),
	}
}

// walkOblivious leaves in sc.phi the SHAP values of the tree's classes for
// a row that reaches leaf.
func (p *shapPlan) walkOblivious(sc *shapScratch, st *shapTree, leaf int) {
	d := st.depth
	for dd := range d {
		yes := leaf>>(d-1-dd)&1 == 1
		row := (1 << dd) - 1
		for i := range 1 << dd {
			sc.goYes[row+i] = yes
		}
	}
	phi := sc.phi[:len(st.classes.global)*p.dims]
	clear(phi)
	tree := &st.tree
	if tree.Nodes == nil {
		nodes := sc.nodes[:1<<(d+1)-1]
		st.layoutOblivious(nodes)
		sc.deep = treeshap.Tree{Nodes: nodes, Depth: d}
		tree = &sc.deep
	}
	sc.walker.Walk(tree, sc.goYes, st.values, p.stride, p.dims, st.offset, phi)
}

// unpack adds the class values in sc.phi, scaled, to out: dimension k of
// the tree's credited feature j goes to out[k*rowDim+col(j)].
func (p *shapPlan) unpack(sc *shapScratch, st *shapTree, out []float64, rowDim int, col func(j int32) int) {
	tc := &st.classes
	for c, pos := range tc.pos {
		for k := range p.dims {
			v := sc.phi[c*p.dims+k] / tc.count[c] * p.scale
			for _, j := range pos {
				out[k*rowDim+col(j)] += v
			}
		}
	}
}
