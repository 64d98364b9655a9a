package treeshap

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomTree grows a random binary tree over features [0, nf) (a feature
// may repeat on a path), with random covers (some zero) and leaf values.
func randomTree(rng *rand.Rand, depth, nf int) (Tree, []float64) {
	var t Tree
	var values []float64
	var grow func(d int) int32
	grow = func(d int) int32 {
		at := int32(len(t.Nodes))
		t.Nodes = append(t.Nodes, Node{})
		if d == depth || (d > 0 && rng.IntN(4) == 0) {
			cover := float64(rng.IntN(20))
			if rng.IntN(6) == 0 {
				cover = 0
			}
			t.Nodes[at] = Node{No: -1, Yes: -1, Leaf: int32(len(values)), Cover: cover}
			values = append(values, rng.NormFloat64())
			t.Depth = max(t.Depth, d)
			return at
		}
		no := grow(d + 1)
		yes := grow(d + 1)
		t.Nodes[at] = Node{No: no, Yes: yes, Feature: int32(rng.IntN(nf)), Cover: t.Nodes[no].Cover + t.Nodes[yes].Cover}
		return at
	}
	grow(0)
	return t, values
}

// pathValue is the value function from its definition: follow the row at
// splits on features in S, average the children by cover elsewhere; a
// subtree without cover contributes nothing.
func pathValue(t *Tree, values []float64, goYes []bool, in uint, n int32) float64 {
	nd := t.Nodes[n]
	if nd.Cover == 0 {
		return 0
	}
	if nd.No < 0 {
		return values[nd.Leaf]
	}
	if in&(1<<nd.Feature) != 0 {
		if goYes[n] {
			return pathValue(t, values, goYes, in, nd.Yes)
		}
		return pathValue(t, values, goYes, in, nd.No)
	}
	no, yes := t.Nodes[nd.No], t.Nodes[nd.Yes]
	return (no.Cover*pathValue(t, values, goYes, in, nd.No) + yes.Cover*pathValue(t, values, goYes, in, nd.Yes)) / nd.Cover
}

// TestWalkIsShapley compares Walk with Shapley values computed over every
// subset of features from pathValue, on random trees whose features repeat
// along paths.
func TestWalkIsShapley(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const nf = 4
	fact := func(n int) float64 {
		f := 1.0
		for i := 2; i <= n; i++ {
			f *= float64(i)
		}
		return f
	}
	for trial := range 300 {
		tree, values := randomTree(rng, 1+rng.IntN(6), nf)
		if tree.Nodes[0].Cover == 0 {
			continue
		}
		if err := tree.Check(nf, len(values)); err != nil {
			t.Fatal(err)
		}
		goYes := make([]bool, len(tree.Nodes))
		for i := range goYes {
			goYes[i] = rng.IntN(2) == 0
		}
		phi := make([]float64, nf)
		NewWalker(tree.Depth).Walk(&tree, goYes, values, 1, 1, 0, phi)
		for f := range nf {
			want := 0.0
			for s := range uint(1 << nf) {
				if s&(1<<f) != 0 {
					continue
				}
				size := 0
				for g := range nf {
					if s&(1<<g) != 0 {
						size++
					}
				}
				w := fact(size) * fact(nf-size-1) / fact(nf)
				want += w * (pathValue(&tree, values, goYes, s|1<<f, 0) - pathValue(&tree, values, goYes, s, 0))
			}
			if math.Abs(phi[f]-want) > 1e-12 {
				t.Fatalf("trial %d feature %d: Walk %.17g, Shapley %.17g", trial, f, phi[f], want)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	bad := []Tree{
		{}, // no nodes
		{Nodes: []Node{{No: 0, Yes: 1, Feature: 0, Cover: 1}, {No: -1, Yes: -1}}, Depth: 1},                    // a loop
		{Nodes: []Node{{No: 1, Yes: 2, Feature: 5, Cover: 1}, {No: -1, Yes: -1}, {No: -1, Yes: -1}}, Depth: 1}, // feature out of range
		{Nodes: []Node{{No: -1, Yes: -1, Leaf: 3, Cover: 1}}},                                                  // leaf out of range
		{Nodes: []Node{{No: -1, Yes: -1, Cover: -1}}},                                                          // negative cover
		{Nodes: []Node{{No: 1, Yes: 2, Cover: 1}, {No: -1, Yes: -1}, {No: -1, Yes: -1}}},                       // deeper than Depth
	}
	for i, tr := range bad {
		if err := tr.Check(2, 2); err == nil {
			t.Errorf("tree %d accepted", i)
		}
	}
}
