package catboost

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The brute-force oracle: SHAP values straight from their definition, as
// catboost-shap-notes.md states what CatBoost computes, sharing no code with
// explain.go, shap_plan.go or model/treeshap (splits are decided by the
// reference evaluator of reference_test.go). For each tree and each set S
// of the tree's feature classes, v(S) walks the tree from its root (an
// oblivious tree's root tests its last split): at a node whose class is in S
// it follows the row, at any other node it averages the children weighted by
// their leaf-weight covers; a subtree without weight contributes nothing.
// Shapley weights over all subsets give each class's value, split equally
// among the flat features of the class.

// oracleClassKey names a split's feature class: the flat features it credits.
func oracleClassKey(d *Definition, s Split) string {
	flatOf := func(cats bool, index int) int {
		if cats {
			for _, c := range d.CatFeatures {
				if c.Index == index {
					return c.FlatIndex
				}
			}
		} else {
			for _, f := range d.FloatFeatures {
				if f.Index == index {
					return f.FlatIndex
				}
			}
		}
		panic(fmt.Sprintf("no feature %d", index))
	}
	switch s.Kind {
	case SplitFloat:
		return fmt.Sprint([]int{flatOf(false, s.Feature)})
	case SplitOneHot:
		return fmt.Sprint([]int{flatOf(true, s.Feature)})
	}
	var flats []int
	for _, j := range d.Ctrs[s.Feature].Base.Projection.CatFeatures {
		flats = append(flats, flatOf(true, j))
	}
	return fmt.Sprint(flats)
}

// oracleNode is a tree node as the oracle sees it.
type oracleNode struct {
	leaf        bool
	value       []float64 // leaf values, one per dimension
	weight      float64   // leaves: leaf weight; inner nodes: their leaves' sum
	class       string
	goesRight   bool // the row's outcome at this split
	left, right *oracleNode
}

func (n *oracleNode) cover() float64 { return n.weight }

// sumWeights sets every inner node's weight to the sum of its leaves'.
func sumWeights(n *oracleNode) float64 {
	if !n.leaf {
		n.weight = sumWeights(n.left) + sumWeights(n.right)
	}
	return n.weight
}

// oracleValue is v(S) of the subtree under n, per dimension, leaf values
// taken relative to offset.
func oracleValue(n *oracleNode, in map[string]bool, offset float64, out []float64) {
	if n.cover() == 0 {
		return
	}
	if n.leaf {
		for k := range out {
			out[k] += n.value[k] - offset
		}
		return
	}
	if in[n.class] {
		next := n.left
		if n.goesRight {
			next = n.right
		}
		oracleValue(next, in, offset, out)
		return
	}
	c := n.cover()
	for _, child := range []*oracleNode{n.left, n.right} {
		part := make([]float64, len(out))
		oracleValue(child, in, offset, part)
		for k := range out {
			out[k] += part[k] * child.cover() / c
		}
	}
}

// oracleTrees builds the oracle's view of every tree for one row.
func oracleTrees(d *Definition, floats []float64, cats []string) []*oracleNode {
	hashes := make([]uint32, len(cats))
	for i, s := range cats {
		hashes[i] = CatHash(s)
	}
	dim := d.ApproxDimension
	split := func(s int) (string, bool) {
		sp := d.Splits[s]
		return oracleClassKey(d, sp), referenceSplit(d, sp, floats, hashes)
	}
	var trees []*oracleNode
	for _, t := range d.Oblivious {
		depth := len(t.Splits)
		// level builds the subtree below the splits fixed so far (bits of
		// the leaf index from the top), testing split `at` next.
		var level func(at, leaf int) *oracleNode
		level = func(at, leaf int) *oracleNode {
			if at < 0 {
				return &oracleNode{leaf: true, value: t.LeafValues[leaf*dim : (leaf+1)*dim], weight: t.LeafWeights[leaf]}
			}
			class, right := split(t.Splits[at])
			return &oracleNode{class: class, goesRight: right, left: level(at-1, leaf), right: level(at-1, leaf|1<<at)}
		}
		root := level(depth-1, 0)
		sumWeights(root)
		trees = append(trees, root)
	}
	for _, t := range d.Trees {
		leafAt := func(off uint32) *oracleNode {
			return &oracleNode{leaf: true, value: t.LeafValues[off : int(off)+dim], weight: t.LeafWeights[int(off)/dim]}
		}
		var node func(n int) *oracleNode
		node = func(n int) *oracleNode {
			nd := t.Nodes[n]
			if nd.Left == 0 && nd.Right == 0 {
				return leafAt(nd.LeafOffset)
			}
			class, right := split(nd.Split)
			o := &oracleNode{class: class, goesRight: right}
			// A missing child is a leaf with the node's own value (the
			// tree as CatBoost's JSON export shows it).
			child := func(diff uint16) *oracleNode {
				if diff == 0 {
					return leafAt(nd.LeafOffset)
				}
				return node(n + int(diff))
			}
			o.left, o.right = child(nd.Left), child(nd.Right)
			return o
		}
		root := node(0)
		sumWeights(root)
		trees = append(trees, root)
	}
	return trees
}

// oracleShap returns one row's values: per dimension, one per flat feature
// then the expected value.
func oracleShap(d *Definition, multiClass bool, nFlat int, floats []float64, cats []string) []float64 {
	dim := d.ApproxDimension
	out := make([]float64, dim*(nFlat+1))
	expected := make([]float64, dim)
	for _, root := range oracleTrees(d, floats, cats) {
		mean := make([]float64, dim)
		oracleValue(root, nil, 0, mean)
		offset := 0.0
		if multiClass {
			for _, m := range mean {
				offset += m / float64(dim)
			}
		}
		for k := range expected {
			expected[k] += mean[k]
		}
		var classes []string
		var walk func(n *oracleNode)
		walk = func(n *oracleNode) {
			if n.leaf {
				return
			}
			seen := false
			for _, c := range classes {
				seen = seen || c == n.class
			}
			if !seen {
				classes = append(classes, n.class)
			}
			walk(n.left)
			walk(n.right)
		}
		walk(root)
		nc := len(classes)
		for i, c := range classes {
			phi := make([]float64, dim)
			for mask := range 1 << nc {
				if mask&(1<<i) != 0 {
					continue
				}
				in := map[string]bool{}
				size := 0
				for j := range nc {
					if mask&(1<<j) != 0 {
						in[classes[j]] = true
						size++
					}
				}
				without := make([]float64, dim)
				oracleValue(root, in, offset, without)
				in[c] = true
				with := make([]float64, dim)
				oracleValue(root, in, offset, with)
				weight := factorial(size) * factorial(nc-size-1) / factorial(nc)
				for k := range phi {
					phi[k] += weight * (with[k] - without[k])
				}
			}
			flats := parseFlats(c)
			for _, f := range flats {
				for k := range dim {
					out[k*(nFlat+1)+f] += phi[k] / float64(len(flats)) * d.Scale
				}
			}
		}
	}
	for k := range dim {
		out[k*(nFlat+1)+nFlat] = d.Scale*expected[k] + d.Bias[k]
	}
	return out
}

// parseFlats reads a class key written by oracleClassKey ("[3 5]").
func parseFlats(key string) []int {
	var flats []int
	n, in := 0, false
	for _, r := range key {
		if r >= '0' && r <= '9' {
			n, in = n*10+int(r-'0'), true
			continue
		}
		if in {
			flats = append(flats, n)
		}
		n, in = 0, false
	}
	return flats
}

func factorial(n int) float64 {
	f := 1.0
	for i := 2; i <= n; i++ {
		f *= float64(i)
	}
	return f
}

// withLeafWeights gives every leaf of d a random weight; about one leaf in
// eight gets weight 0 and, as in trained models, value 0.
func withLeafWeights(rng *rand.Rand, d *Definition) {
	dim := d.ApproxDimension
	set := func(values, weights []float64) {
		for l := range weights {
			weights[l] = float64(1 + rng.IntN(60))
			if rng.IntN(8) == 0 {
				weights[l] = 0
				clear(values[l*dim : (l+1)*dim])
			}
		}
		if !slices.ContainsFunc(weights, func(w float64) bool { return w > 0 }) {
			weights[0] = 1 // some training weight reaches every tree
		}
	}
	for i := range d.Oblivious {
		t := &d.Oblivious[i]
		t.LeafWeights = make([]float64, len(t.LeafValues)/dim)
		set(t.LeafValues, t.LeafWeights)
	}
	for i := range d.Trees {
		t := &d.Trees[i]
		t.LeafWeights = make([]float64, len(t.LeafValues)/dim)
		set(t.LeafValues, t.LeafWeights)
	}
}

// TestExplainMatchesOracle compares Explain with the brute-force oracle on
// small random models: float, one-hot and CTR splits (CTRs over
// combinations, projections with float and one-hot parts), oblivious and
// non-symmetric trees, one to three dimensions, scale and bias, depths up
// to 10 (walked per row instead of tabulated).
func TestExplainMatchesOracle(t *testing.T) {
	base := DefaultRandomConfig()
	base.Trees = 6
	cfgs := map[string]RandomConfig{"default": base}
	c := base
	c.Symmetric, c.Depth = false, 5
	cfgs["nonsym"] = c
	c = base
	c.Dimension, c.TargetClasses, c.Loss = 3, 4, "MultiClass"
	cfgs["multiclass"] = c
	c.Symmetric, c.Depth = false, 4
	cfgs["nonsym-multiclass"] = c
	c = base
	c.Dimension, c.TargetClasses, c.Loss = 2, 3, "MultiRMSE"
	cfgs["multiregression"] = c
	c = base
	c.MaxProjection, c.Ctrs, c.OneHotFeatures, c.CatFeatures = 3, 6, 2, 4
	cfgs["ctr-combinations"] = c
	c = base
	c.Depth, c.Trees = 10, 2
	cfgs["deep"] = c
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			for seed := range uint64(4) {
				rng := rand.New(rand.NewPCG(seed, 99))
				d := Random(rng, cfg)
				withLeafWeights(rng, d)
				m, err := Compile(d)
				if err != nil {
					t.Fatal(err)
				}
				rows := 12
				if cfg.Depth >= 8 {
					rows = 3
				}
				b := RandomBatch(rng, d, rows)
				got, dims := explainAll(t, m, b)
				multiClass := isMultiClass(m.Output())
				nf := len(m.Schema().Features)
				w := dims * (nf + 1)
				for r := range b.Rows {
					floats, cats := b.Row(r)
					want := oracleShap(d, multiClass, nf, floats, cats)
					for j := range want {
						if d := math.Abs(got[r*w+j] - want[j]); d > 1e-9*max(1, math.Abs(want[j])) {
							t.Fatalf("seed %d row %d value %d: got %.17g, oracle %.17g", seed, r, j, got[r*w+j], want[j])
						}
					}
				}
			}
		})
	}
}

// TestOracleMatchesCatBoost pins the oracle itself to CatBoost's own values
// on the oblivious fixture, where the root's split order decides the result.
func TestOracleMatchesCatBoost(t *testing.T) {
	dir := fixtureDir(t)
	var man struct {
		Cases []struct {
			parityCase
			Shap []float64 `json:"expected_shap"`
		} `json:"cases"`
	}
	readJSON(t, dir+"/cbrs-shap-oblivious/manifest.json", &man)
	m, err := LoadFile(dir + "/cbrs-shap-oblivious/model.json")
	if err != nil {
		t.Fatal(err)
	}
	nf := len(m.Schema().Features)
	for i, c := range man.Cases {
		b := parityBatch(t, m.Schema(), []parityCase{c.parityCase})
		floats, cats := b.Row(0)
		got := oracleShap(m.Definition(), false, nf, floats, cats)
		for j, want := range c.Shap {
			if math.Abs(got[j]-want) > 1e-9 {
				t.Fatalf("case %d value %d: oracle %.17g, CatBoost %.17g", i, j, got[j], want)
			}
		}
	}
}
