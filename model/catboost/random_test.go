package catboost

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// randomConfigs are the shapes the differential and fuzz tests draw from:
// every CTR type, NaN rule, one-hot, projections with splits, non-symmetric
// trees, dimensions 1..4, deep trees and features with more than 254 borders.
func randomConfigs() map[string]RandomConfig {
	base := DefaultRandomConfig()
	cfgs := map[string]RandomConfig{"default": base}
	for _, ct := range []CtrType{CtrBorders, CtrBuckets, CtrBinarizedTargetMeanValue, CtrFloatTargetMeanValue, CtrCounter, CtrFeatureFreq} {
		c := base
		c.CtrTypes = []CtrType{ct}
		c.TargetClasses = 2 + int(ct)%3
		cfgs[fmt.Sprintf("ctr-%d", ct)] = c
	}
	c := base
	c.Symmetric = false
	c.Depth = 6
	cfgs["nonsym"] = c
	for dim := 2; dim <= 4; dim++ {
		c := base
		c.Dimension = dim
		c.Symmetric = dim%2 == 0
		c.TargetClasses = dim + 1
		cfgs[fmt.Sprintf("dim-%d", dim)] = c
	}
	for _, depth := range []int{6, 8} {
		c := base
		c.Depth = depth
		c.Trees = 30
		cfgs[fmt.Sprintf("depth-%d", depth)] = c
		c.Dimension = 3
		c.TargetClasses = 4
		cfgs[fmt.Sprintf("depth-%d-dim-3", depth)] = c
	}
	c = base
	c.Depth = 10
	c.Trees = 5
	cfgs["deep"] = c
	c = base
	c.BordersPerFeature = 600
	c.CtrBorders = 300
	c.MaxTableEntries = 2000
	cfgs["many-borders"] = c
	c = base
	c.CatFeatures = 0
	c.FloatFeatures = 7
	cfgs["float-only"] = c
	c = base
	c.FloatFeatures = 0
	c.CatFeatures = 4
	c.OneHotFeatures = 2
	c.OneHotValues = 300
	c.Categories = 400
	cfgs["cat-only"] = c
	c = base
	c.Depth = 1
	c.Trees = 3
	cfgs["stumps"] = c
	return cfgs
}

func TestRandomIsDeterministic(t *testing.T) {
	cfg := DefaultRandomConfig()
	a := Random(rand.New(rand.NewPCG(1, 2)), cfg)
	b := Random(rand.New(rand.NewPCG(1, 2)), cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different definitions")
	}
}

// TestRandomIsWellFormed checks the invariants the evaluator relies on,
// independently of the loader's Validate: the bin-feature list in §5.4 order,
// sorted unique borders, a table per CTR base with counters for every index,
// leaf counts, in-range non-symmetric offsets.
func TestRandomIsWellFormed(t *testing.T) {
	for name, cfg := range randomConfigs() {
		for seed := range uint64(5) {
			d := Random(rand.New(rand.NewPCG(seed, 7)), cfg)
			if err := checkWellFormed(d); err != nil {
				t.Errorf("%s seed %d: %v", name, seed, err)
			}
			if err := d.Validate(); err != nil {
				t.Errorf("%s seed %d: Validate: %v", name, seed, err)
			}
		}
	}
}

func checkWellFormed(d *Definition) error {
	var want []Split
	for i, f := range d.FloatFeatures {
		if f.Index != i {
			return fmt.Errorf("float feature %d has Index %d", i, f.Index)
		}
		for k := 1; k < len(f.Borders); k++ {
			if !(f.Borders[k-1] < f.Borders[k]) {
				return fmt.Errorf("float feature %d borders not strictly ascending", i)
			}
		}
		for _, b := range f.Borders {
			want = append(want, Split{Kind: SplitFloat, Feature: i, Border: b})
		}
	}
	for _, oh := range d.OneHotFeatures {
		for _, v := range oh.Values {
			want = append(want, Split{Kind: SplitOneHot, Feature: oh.CatIndex, Value: v})
		}
	}
	for i, c := range d.Ctrs {
		if !slices.IsSorted(c.Borders) {
			return fmt.Errorf("ctr %d borders unsorted", i)
		}
		for _, b := range c.Borders {
			want = append(want, Split{Kind: SplitCtr, Feature: i, Border: b})
		}
		t := findTable(d, c.Base)
		if t == nil {
			return fmt.Errorf("ctr %d has no table", i)
		}
		n := len(t.Index)
		switch c.Base.Type {
		case CtrBorders, CtrBuckets:
			if len(t.Counters) != n*t.TargetClassesCount || t.TargetClassesCount < 2 {
				return fmt.Errorf("ctr %d: %d counters for %d entries × %d classes", i, len(t.Counters), n, t.TargetClassesCount)
			}
		case CtrCounter, CtrFeatureFreq:
			if len(t.Counters) != n {
				return fmt.Errorf("ctr %d: %d counters for %d entries", i, len(t.Counters), n)
			}
		default:
			if len(t.Means) != n {
				return fmt.Errorf("ctr %d: %d means for %d entries", i, len(t.Means), n)
			}
		}
		for _, idx := range t.Index {
			if int(idx) >= n {
				return fmt.Errorf("ctr %d: index %d out of %d", i, idx, n)
			}
		}
	}
	if !reflect.DeepEqual(want, d.Splits) {
		return fmt.Errorf("Splits is not the §5.4 bin-feature list")
	}
	if len(d.Bias) != d.ApproxDimension {
		return fmt.Errorf("%d biases for dimension %d", len(d.Bias), d.ApproxDimension)
	}
	for i, tr := range d.Oblivious {
		if len(tr.LeafValues) != d.ApproxDimension<<len(tr.Splits) {
			return fmt.Errorf("tree %d: %d leaf values for depth %d", i, len(tr.LeafValues), len(tr.Splits))
		}
	}
	for i, tr := range d.Trees {
		for n, node := range tr.Nodes {
			if n+int(node.Left) >= len(tr.Nodes) || n+int(node.Right) >= len(tr.Nodes) {
				return fmt.Errorf("tree %d node %d: child out of range", i, n)
			}
			needsLeaf := node.Left == 0 || node.Right == 0
			if needsLeaf != (node.LeafOffset != NoLeaf) {
				return fmt.Errorf("tree %d node %d: leaf offset %d with children %d/%d", i, n, node.LeafOffset, node.Left, node.Right)
			}
			if needsLeaf && int(node.LeafOffset)+d.ApproxDimension > len(tr.LeafValues) {
				return fmt.Errorf("tree %d node %d: leaf offset out of range", i, n)
			}
		}
	}
	return nil
}

// findTable returns the table of a CTR base, matched as CatBoost matches
// bases: by projection and type.
func findTable(d *Definition, b CtrBase) *CtrTable {
	for i := range d.CtrTables {
		t := &d.CtrTables[i]
		p, q := &t.Base.Projection, &b.Projection
		if t.Base.Type == b.Type && slices.Equal(p.CatFeatures, q.CatFeatures) &&
			slices.Equal(p.FloatSplits, q.FloatSplits) && slices.Equal(p.OneHotSplits, q.OneHotSplits) {
			return t
		}
	}
	return nil
}

func TestLoanShapedConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1000-tree model")
	}
	d := Random(rand.New(rand.NewPCG(1, 1)), LoanShapedConfig())
	if err := checkWellFormed(d); err != nil {
		t.Fatal(err)
	}
	if len(d.Oblivious) != 1000 || len(d.FloatFeatures) != 9 || len(d.CatFeatures) != 9 || len(d.Ctrs) < 24 {
		t.Fatalf("shape: %d trees, %d float, %d cat, %d ctrs", len(d.Oblivious), len(d.FloatFeatures), len(d.CatFeatures), len(d.Ctrs))
	}
	if d.CatFeatures[2].Name != "City" || d.FloatFeatures[0].Name != "Term" {
		t.Errorf("names: %q %q", d.CatFeatures[2].Name, d.FloatFeatures[0].Name)
	}
	b := RandomBatch(rand.New(rand.NewPCG(3, 3)), d, 64)
	if b.Rows != 64 || len(b.Floats) != 64*9 || len(b.Cats) != 64*9 {
		t.Fatalf("batch shape %d rows, %d floats, %d cats", b.Rows, len(b.Floats), len(b.Cats))
	}
}
