package catboost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// Trees in the JSON export (spec §1.2, §1.3): splits refer to the bin-feature
// list by split_index only; the other split fields are redundant and must
// agree with it. Non-symmetric trees are nested objects, laid out here in
// pre-order.

// split resolves a tree split by split_index and checks the redundant fields.
func (j *jsonDecoder) split(path string, s *jsonSplit, d *Definition) (int, error) {
	if s.Index == nil {
		return 0, j.errf(path, nil, "split_index missing")
	}
	i := *s.Index
	if i < 0 || i >= len(d.Splits) {
		return 0, j.errf(path, nil, "split_index %d out of range (the features define %d bin features)", i, len(d.Splits))
	}
	bf := d.Splits[i]
	bad := func(what string) (int, error) {
		return 0, j.errf(path, nil, "split_index %d is %s, but the split's %s disagrees", i, describeSplit(bf), what)
	}
	kinds := map[string]SplitKind{"FloatFeature": SplitFloat, "OneHotFeature": SplitOneHot, "OnlineCtr": SplitCtr}
	if s.Type != "" {
		k, ok := kinds[s.Type]
		if !ok {
			return 0, j.errf(path, ErrUnsupported, "unknown split_type %q", s.Type)
		}
		if k != bf.Kind {
			return bad("split_type " + s.Type)
		}
	}
	switch bf.Kind {
	case SplitFloat:
		if s.FloatIndex != nil && *s.FloatIndex != bf.Feature {
			return bad("float_feature_index")
		}
		if s.Border != nil && *s.Border != bf.Border {
			return bad("border")
		}
	case SplitOneHot:
		if s.CatIndex != nil && *s.CatIndex != bf.Feature {
			return bad("cat_feature_index")
		}
		if s.Value != nil && *s.Value != bf.Value {
			return bad("value")
		}
	case SplitCtr:
		if s.Border != nil && *s.Border != bf.Border {
			return bad("border")
		}
		if s.CtrTargetBorderIdx != nil && *s.CtrTargetBorderIdx != d.Ctrs[bf.Feature].TargetBorderIdx {
			return bad("ctr_target_border_idx")
		}
	}
	return i, nil
}

func (j *jsonDecoder) oblivious(trees []jsonObliviousTree, d *Definition) error {
	d.Oblivious = make([]ObliviousTree, len(trees))
	for i := range trees {
		t := &trees[i]
		path := fmt.Sprintf("oblivious_trees[%d]", i)
		depth := len(t.Splits)
		if depth > maxObliviousDepth {
			return j.errf(path+".splits", nil, "depth %d (max %d)", depth, maxObliviousDepth)
		}
		leaves := 1 << depth
		if len(t.LeafValues) == 0 || len(t.LeafValues)%leaves != 0 {
			return j.errf(path+".leaf_values", nil, "%d leaf values for depth %d (want a multiple of %d)", len(t.LeafValues), depth, leaves)
		}
		dim := len(t.LeafValues) / leaves
		if i == 0 {
			d.ApproxDimension = dim
		} else if dim != d.ApproxDimension {
			return j.errf(path+".leaf_values", nil, "%d leaf values for depth %d: dimension %d, earlier trees have %d",
				len(t.LeafValues), depth, dim, d.ApproxDimension)
		}
		ot := &d.Oblivious[i]
		ot.Splits = make([]int, depth)
		for k := range t.Splits {
			var err error
			if ot.Splits[k], err = j.split(fmt.Sprintf("%s.splits[%d]", path, k), &t.Splits[k], d); err != nil {
				return err
			}
		}
		ot.LeafValues, ot.LeafWeights = t.LeafValues, nilIfEmpty(t.LeafWeights)
	}
	return nil
}

// nonSymmetric lays each nested tree out in pre-order: a split node's left
// child follows it, its right child follows the left subtree.
func (j *jsonDecoder) nonSymmetric(trees []*jsonNode, d *Definition) error {
	d.Trees = make([]Tree, len(trees))
	for i, root := range trees {
		path := fmt.Sprintf("trees[%d]", i)
		if root == nil {
			return j.errf(path, nil, "null tree")
		}
		if err := j.node(path, root, &d.Trees[i], d); err != nil {
			return err
		}
	}
	return nil
}

// node appends n and its subtrees to t.
func (j *jsonDecoder) node(path string, n *jsonNode, t *Tree, d *Definition) error {
	at := len(t.Nodes)
	if n.Split == nil {
		if n.Left != nil || n.Right != nil {
			return j.errf(path, nil, "node with children but no split")
		}
		vals, err := j.leafValue(path+".value", n.Value)
		if err != nil {
			return err
		}
		if d.ApproxDimension == 0 {
			d.ApproxDimension = len(vals)
		} else if len(vals) != d.ApproxDimension {
			return j.errf(path+".value", nil, "%d values, other leaves have %d", len(vals), d.ApproxDimension)
		}
		t.Nodes = append(t.Nodes, Node{LeafOffset: uint32(len(t.LeafValues))})
		t.LeafValues = append(t.LeafValues, vals...)
		if n.Weight != nil {
			t.LeafWeights = append(t.LeafWeights, *n.Weight)
		}
		return nil
	}
	if n.Left == nil || n.Right == nil {
		return j.errf(path, nil, "split node without both children")
	}
	split, err := j.split(path+".split", n.Split, d)
	if err != nil {
		return err
	}
	t.Nodes = append(t.Nodes, Node{Split: split, Left: 1, LeafOffset: NoLeaf})
	if err := j.node(path+".left", n.Left, t, d); err != nil {
		return err
	}
	right := len(t.Nodes) - at
	if right > math.MaxUint16 {
		return j.errf(path, nil, "left subtree of %d nodes is too large for a 16-bit child offset", right-1)
	}
	t.Nodes[at].Right = uint16(right)
	return j.node(path+".right", n.Right, t, d)
}

func (j *jsonDecoder) leafValue(path string, raw json.RawMessage) ([]float64, error) {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return nil, j.errf(path, nil, "leaf without value")
	}
	if raw[0] == '[' {
		var vs []float64
		if err := json.Unmarshal(raw, &vs); err != nil {
			return nil, j.errf(path, nil, "bad leaf values").withErr(err)
		}
		if len(vs) == 0 {
			return nil, j.errf(path, nil, "empty leaf value array")
		}
		return vs, nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, j.errf(path, nil, "bad leaf value").withErr(err)
	}
	return []float64{v}, nil
}
