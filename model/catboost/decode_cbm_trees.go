package catboost

import (
	"fmt"
	"math"
)

// Trees in the .cbm core (spec §5.2, §5.5): TreeSizes, TreeStartOffsets and
// TreeSplits describe every tree in flat arrays, LeafValues holds all leaves
// one tree after another. Oblivious trees are cut out of them directly;
// non-symmetric ones add the parallel NonSymmetricStepNodes and
// NonSymmetricNodeIdToLeafId arrays, whose global leaf offsets become
// offsets into each tree's own LeafValues.

// cbmTrees holds the tree arrays of TModelTrees.
type cbmTrees struct {
	dim          int
	splits       []int32
	sizes        []int32
	starts       []int32
	leafValues   []float64
	leafWeights  []float64
	stepNodes    fbVector
	nodeToLeafID []uint32
}

// decodeTrees reads the trees, scale and bias of TModelTrees into d.
func decodeTrees(t *fbTable, d *Definition) error {
	var (
		c   cbmTrees
		err error
	)
	dim, err := t.int32(0, "ApproxDimension", 0)
	if err != nil {
		return err
	}
	if c.splits, err = t.int32s(1, "TreeSplits"); err != nil {
		return err
	}
	if c.sizes, err = t.int32s(2, "TreeSizes"); err != nil {
		return err
	}
	if c.starts, err = t.int32s(3, "TreeStartOffsets"); err != nil {
		return err
	}
	if c.leafValues, err = t.float64s(8, "LeafValues"); err != nil {
		return err
	}
	if c.leafWeights, err = t.float64s(9, "LeafWeights"); err != nil {
		return err
	}
	if c.stepNodes, err = t.vector(10, "NonSymmetricStepNodes", 4); err != nil {
		return err
	}
	if c.nodeToLeafID, err = t.uint32s(11, "NonSymmetricNodeIdToLeafId"); err != nil {
		return err
	}
	if d.Scale, err = t.float64(14, "Scale", 1); err != nil {
		return err
	}
	bias, err := t.float64(15, "Bias", 0)
	if err != nil {
		return err
	}
	multiBias, err := t.float64s(16, "MultiBias")
	if err != nil {
		return err
	}
	errf := func(path, format string, args ...any) error {
		return t.buf.errf(int64(t.pos), t.path+"."+path, nil, format, args...)
	}
	// The dimension sizes the bias; bound it by what the file holds.
	if dim < 1 || int64(dim) > int64(max(1, len(c.leafValues), len(multiBias))) {
		return errf("ApproxDimension", "approx dimension %d (want 1 to %d for %d leaf values)",
			dim, max(1, len(c.leafValues), len(multiBias)), len(c.leafValues))
	}
	c.dim = int(dim)
	d.ApproxDimension = c.dim
	if len(multiBias) > 0 {
		d.Bias = multiBias
	} else {
		d.Bias = make([]float64, c.dim)
		for i := range d.Bias {
			d.Bias[i] = bias
		}
	}
	if len(c.sizes) != len(c.starts) {
		return errf("TreeStartOffsets", "%d tree sizes but %d start offsets", len(c.sizes), len(c.starts))
	}
	if c.stepNodes.n == 0 && len(c.nodeToLeafID) == 0 {
		d.Oblivious, err = c.oblivious(errf)
	} else {
		d.Trees, err = c.nonSymmetric(errf)
	}
	return err
}

// oblivious splits the flat arrays into symmetric trees.
func (c *cbmTrees) oblivious(errf func(string, string, ...any) error) ([]ObliviousTree, error) {
	trees := make([]ObliviousTree, len(c.sizes))
	splitAt, leafAt, weightAt := 0, 0, 0
	totalLeaves := 0
	for _, depth := range c.sizes {
		if depth < 0 || depth > maxObliviousDepth {
			return nil, errf("TreeSizes", "tree depth %d (want 0 to %d)", depth, maxObliviousDepth)
		}
		totalLeaves += 1 << depth
	}
	if len(c.leafWeights) != 0 && len(c.leafWeights) != totalLeaves {
		return nil, errf("LeafWeights", "%d leaf weights for %d leaves", len(c.leafWeights), totalLeaves)
	}
	for i, depth := range c.sizes {
		path := fmt.Sprintf("tree %d", i)
		if int(c.starts[i]) != splitAt {
			return nil, errf("TreeStartOffsets", "%s starts at split %d, want %d", path, c.starts[i], splitAt)
		}
		if splitAt+int(depth) > len(c.splits) {
			return nil, errf("TreeSplits", "%s needs splits %d..%d, have %d", path, splitAt, splitAt+int(depth), len(c.splits))
		}
		leaves := 1 << depth
		if leafAt+leaves*c.dim > len(c.leafValues) {
			return nil, errf("LeafValues", "%s needs leaf values %d..%d, have %d", path, leafAt, leafAt+leaves*c.dim, len(c.leafValues))
		}
		tr := &trees[i]
		tr.Splits = make([]int, depth)
		for d := range tr.Splits {
			tr.Splits[d] = int(c.splits[splitAt+d])
		}
		tr.LeafValues = c.leafValues[leafAt : leafAt+leaves*c.dim : leafAt+leaves*c.dim]
		if len(c.leafWeights) > 0 {
			tr.LeafWeights = c.leafWeights[weightAt : weightAt+leaves : weightAt+leaves]
		}
		splitAt += int(depth)
		leafAt += leaves * c.dim
		weightAt += leaves
	}
	if splitAt != len(c.splits) {
		return nil, errf("TreeSplits", "%d splits, trees use %d", len(c.splits), splitAt)
	}
	if leafAt != len(c.leafValues) {
		return nil, errf("LeafValues", "%d leaf values, trees use %d", len(c.leafValues), leafAt)
	}
	return trees, nil
}

// nonSymmetric converts the parallel node arrays into per-tree node lists
// whose leaf offsets are relative to the tree's own leaf values.
func (c *cbmTrees) nonSymmetric(errf func(string, string, ...any) error) ([]Tree, error) {
	nodes := len(c.splits)
	if c.stepNodes.n != nodes || len(c.nodeToLeafID) != nodes {
		return nil, errf("NonSymmetricStepNodes", "%d splits, %d step nodes and %d leaf ids: want equal counts",
			nodes, c.stepNodes.n, len(c.nodeToLeafID))
	}
	if len(c.leafValues)%c.dim != 0 {
		return nil, errf("LeafValues", "%d leaf values is not a multiple of the dimension %d", len(c.leafValues), c.dim)
	}
	if len(c.leafWeights) != 0 && len(c.leafWeights) != len(c.leafValues)/c.dim {
		return nil, errf("LeafWeights", "%d leaf weights for %d leaves", len(c.leafWeights), len(c.leafValues)/c.dim)
	}
	trees := make([]Tree, len(c.sizes))
	nodeAt, leafEnd := 0, 0
	for i, size := range c.sizes {
		path := fmt.Sprintf("tree %d", i)
		if int(c.starts[i]) != nodeAt {
			return nil, errf("TreeStartOffsets", "%s starts at node %d, want %d", path, c.starts[i], nodeAt)
		}
		if size < 1 || nodeAt+int(size) > nodes {
			return nil, errf("TreeSizes", "%s has %d nodes from node %d, the model has %d", path, size, nodeAt, nodes)
		}
		// The tree's leaves are the range its nodes' leaf ids span; trees
		// must not share leaves (they are laid out in node order).
		lo, hi := uint64(math.MaxUint64), uint64(0)
		for n := nodeAt; n < nodeAt+int(size); n++ {
			id := c.nodeToLeafID[n]
			if id == noLeafID {
				continue
			}
			if id%uint32(c.dim) != 0 || uint64(id)+uint64(c.dim) > uint64(len(c.leafValues)) {
				return nil, errf("NonSymmetricNodeIdToLeafId", "%s node %d: leaf offset %d (dimension %d, %d leaf values)",
					path, n-nodeAt, id, c.dim, len(c.leafValues))
			}
			lo, hi = min(lo, uint64(id)), max(hi, uint64(id)+uint64(c.dim))
		}
		if hi == 0 {
			return nil, errf("NonSymmetricNodeIdToLeafId", "%s has no leaf", path)
		}
		if lo < uint64(leafEnd) {
			return nil, errf("NonSymmetricNodeIdToLeafId", "%s leaves start at %d, before the previous tree's end %d", path, lo, leafEnd)
		}
		tr := &trees[i]
		tr.Nodes = make([]Node, size)
		for k := range tr.Nodes {
			n := nodeAt + k
			step := c.stepNodes.data + uint32(4*n)
			nd := Node{
				Split:      int(c.splits[n]),
				Left:       c.stepNodes.buf.u16(step),
				Right:      c.stepNodes.buf.u16(step + 2),
				LeafOffset: NoLeaf,
			}
			if id := c.nodeToLeafID[n]; id != noLeafID {
				nd.LeafOffset = uint32(uint64(id) - lo)
			}
			tr.Nodes[k] = nd
		}
		tr.LeafValues = c.leafValues[lo:hi:hi]
		if len(c.leafWeights) > 0 {
			d := uint64(c.dim)
			tr.LeafWeights = c.leafWeights[lo/d : hi/d : hi/d]
		}
		nodeAt += int(size)
		leafEnd = int(hi)
	}
	if nodeAt != nodes {
		return nil, errf("TreeSizes", "trees use %d of %d nodes", nodeAt, nodes)
	}
	return trees, nil
}
