// Package treeshap computes path-dependent TreeSHAP values of one decision
// tree for one row: the polynomial-time recursion of Lundberg et al.
// ("Consistent individualized feature attribution for tree ensembles",
// Algorithm 2), as CatBoost ("Regular" ShapValues) and XGBoost
// (pred_contribs) run it.
//
// The value function is path-following: for a set S of features, walk the
// tree from its root; at a node whose feature is in S follow the row, at any
// other node average the two children weighted by their covers (the training
// weight that reached each). The Shapley values of that game are what Walk
// adds up. The order of the splits from the root matters, so a backend must
// lay its tree out with the root its library uses.
//
// Backends map their splits to feature ids (CatBoost: feature classes;
// XGBoost: feature indexes) and decide, per row, which way each node goes.
package treeshap

import "fmt"

// Node is one node of a Tree. A leaf has No == Yes == -1.
type Node struct {
	// No and Yes are the children taken when the node's condition is false
	// and true.
	No, Yes int32
	// Feature identifies the split's feature, 0 ≤ Feature < the phi rows
	// the caller provides; unused at leaves.
	Feature int32
	// Leaf is, at a leaf, the index of its values: Walk reads
	// values[Leaf*stride+k] for output dimension k.
	Leaf int32
	// Cover is the training weight that reached the node. A child whose
	// cover is zero (|cover| ≤ 1e-13) is not descended into, as CatBoost
	// does: no training row went there, so no value of the game depends
	// on it.
	Cover float64
}

// Tree is a binary tree for TreeSHAP: Nodes[0] is the root, and every
// child index is greater than its parent's, so a walk ends.
type Tree struct {
	Nodes []Node
	// Depth is the longest root-to-leaf path, in splits.
	Depth int
}

// Check reports whether t is well formed for features feature ids and
// leaves leaf indexes: children in range and after their parent, no more
// than Depth splits from the root to any leaf, covers finite and not
// negative.
func (t *Tree) Check(features, leaves int) error {
	if len(t.Nodes) == 0 {
		return fmt.Errorf("tree without nodes")
	}
	depth := make([]int, len(t.Nodes))
	for i, n := range t.Nodes {
		if !(n.Cover >= 0) || n.Cover > 1e300 {
			return fmt.Errorf("node %d: cover %v", i, n.Cover)
		}
		if n.No < 0 && n.Yes < 0 {
			if n.Leaf < 0 || int(n.Leaf) >= leaves {
				return fmt.Errorf("node %d: leaf %d of %d", i, n.Leaf, leaves)
			}
			continue
		}
		if int(n.No) <= i || int(n.Yes) <= i || int(n.No) >= len(t.Nodes) || int(n.Yes) >= len(t.Nodes) {
			return fmt.Errorf("node %d: children %d and %d", i, n.No, n.Yes)
		}
		if n.Feature < 0 || int(n.Feature) >= features {
			return fmt.Errorf("node %d: feature %d of %d", i, n.Feature, features)
		}
		for _, c := range []int32{n.No, n.Yes} {
			depth[c] = depth[i] + 1
			if depth[c] > t.Depth {
				return fmt.Errorf("node %d: deeper than %d", c, t.Depth)
			}
		}
	}
	return nil
}

// element is one feature on the path from the root: the fraction of
// training weight that goes the path's way when the feature is unknown
// (zero), whether the row goes that way (one), and the weight of the
// subsets of path features of each size (Lundberg's pweight).
type element struct {
	feature   int32
	zero, one float64
	weight    float64
}

// Walker holds the scratch memory of walks over trees up to a given depth.
// A Walker is not safe for concurrent use; it allocates nothing per walk.
type Walker struct {
	maxDepth int
	path     []element // one path copy per level, (maxDepth+2)² elements
	// Per walk:
	t      *Tree
	goYes  []bool
	values []float64
	stride int
	offset float64
	phi    []float64
	dims   int
}

// NewWalker returns a Walker for trees of depth up to maxDepth.
func NewWalker(maxDepth int) *Walker {
	n := maxDepth + 2
	return &Walker{maxDepth: maxDepth, path: make([]element, n*n)}
}

// Walk adds one tree's SHAP values for one row to phi: phi[f*dims+k] for
// feature f and output dimension k. goYes[n] says which way the row goes at
// internal node n (true: the Yes child). A leaf's value in dimension k is
// values[Leaf*stride+k] − offset; SHAP values do not depend on the offset
// except through children skipped for zero cover (CatBoost passes the
// tree's mean over classes for MultiClass models). The tree's depth must
// not exceed the Walker's.
func (w *Walker) Walk(t *Tree, goYes []bool, values []float64, stride, dims int, offset float64, phi []float64) {
	if t.Depth > w.maxDepth {
		panic(fmt.Sprintf("treeshap: tree of depth %d on a walker for depth %d", t.Depth, w.maxDepth))
	}
	w.t, w.goYes, w.values, w.stride, w.dims, w.offset, w.phi = t, goYes, values, stride, dims, offset, phi
	if !fuzzyZero(t.Nodes[0].Cover) {
		w.recurse(0, nil, w.path, 1, 1, -1)
	}
	w.t, w.goYes, w.values, w.phi = nil, nil, nil, nil
}

// recurse extends parent (a path that lives before free) with the feature
// that led to node n and descends. free is the scratch left for this level
// and the ones below it.
func (w *Walker) recurse(n int32, parent []element, free []element, zero, one float64, feature int32) {
	path := free[:len(parent)+1]
	copy(path, parent)
	extend(path, zero, one, feature)
	free = free[len(path):]

	nd := &w.t.Nodes[n]
	if nd.No < 0 {
		w.leaf(path, nd)
		return
	}
	hot, cold := nd.No, nd.Yes
	if w.goYes[n] {
		hot, cold = nd.Yes, nd.No
	}
	inZero, inOne := 1.0, 1.0
	for i := 1; i < len(path); i++ {
		if path[i].feature == nd.Feature {
			// The feature is already on the path: undo that split and
			// redo it here, carrying its fractions.
			inZero, inOne = path[i].zero, path[i].one
			unwind(path, i)
			path = path[:len(path)-1]
			break
		}
	}
	nodes := w.t.Nodes
	if c := nodes[hot].Cover; !fuzzyZero(c) {
		w.recurse(hot, path, free, inZero*(c/nd.Cover), inOne, nd.Feature)
	}
	if c := nodes[cold].Cover; !fuzzyZero(c) {
		w.recurse(cold, path, free, inZero*(c/nd.Cover), 0, nd.Feature)
	}
}

// leaf credits every feature on the path with its share of the leaf's
// value.
func (w *Walker) leaf(path []element, nd *Node) {
	vals := w.values[int(nd.Leaf)*w.stride:]
	for i := 1; i < len(path); i++ {
		coef := unwoundSum(path, i) * (path[i].one - path[i].zero)
		row := w.phi[int(path[i].feature)*w.dims:]
		for k := range w.dims {
			row[k] += coef * (vals[k] - w.offset)
		}
	}
}

// extend appends a feature to the path held in path[:len(path)-1], updating
// the subset weights.
func extend(path []element, zero, one float64, feature int32) {
	l := len(path) - 1
	weight := 0.0
	if l == 0 {
		weight = 1
	}
	path[l] = element{feature: feature, zero: zero, one: one, weight: weight}
	for i := l - 1; i >= 0; i-- {
		path[i+1].weight += one * path[i].weight * float64(i+1) / float64(l+1)
		path[i].weight = zero * path[i].weight * float64(l-i) / float64(l+1)
	}
}

// unwoundSum is the total weight of the path with element k unwound: the
// sum of the weights unwind would leave, computed without changing the
// path (Lundberg's UnwoundPathSum).
func unwoundSum(path []element, k int) float64 {
	n := len(path)
	one, zero := path[k].one, path[k].zero
	next := path[n-1].weight
	total := 0.0
	if !fuzzyZero(one) {
		for i := n - 2; i >= 0; i-- {
			w := next * float64(n) / (one * float64(i+1))
			total += w
			next = path[i].weight - w*zero*float64(n-i-1)/float64(n)
		}
		return total
	}
	for i := n - 2; i >= 0; i-- {
		total += path[i].weight * (float64(n) / (zero * float64(n-i-1)))
	}
	return total
}

// unwind removes element k from the path, undoing its extend; the path is
// one element shorter afterwards (path[:len(path)-1]).
func unwind(path []element, k int) {
	n := len(path)
	one, zero := path[k].one, path[k].zero
	next := path[n-1].weight
	for i := k; i < n-1; i++ {
		path[i].feature, path[i].zero, path[i].one = path[i+1].feature, path[i+1].zero, path[i+1].one
	}
	if !fuzzyZero(one) {
		for i := n - 2; i >= 0; i-- {
			old := path[i].weight
			path[i].weight = next * float64(n) / (one * float64(i+1))
			next = old - path[i].weight*zero*float64(n-i-1)/float64(n)
		}
		return
	}
	for i := n - 2; i >= 0; i-- {
		path[i].weight *= float64(n) / (zero * float64(n-i-1))
	}
}

// ZeroCover reports whether a cover counts as zero, so that the walk does
// not descend into its node: CatBoost's FuzzyEquals(1 + c, 1), zero up to
// 1e-13. Callers that check a tree's leaves before explaining it use this
// rule, the walk's own.
func ZeroCover(c float64) bool { return fuzzyZero(c) }

// fuzzyZero is CatBoost's FuzzyEquals(1 + x, 1): x is zero up to 1e-13.
func fuzzyZero(x float64) bool {
	a, b := 1+x, 1.0
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-13*min(abs(a), abs(b))
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
