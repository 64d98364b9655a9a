package catboost

import (
	"fmt"
	"math"
)

// maxNonSymmetricDepth bounds root-to-leaf paths of non-symmetric trees.
// CatBoost trains at most depth 16; the bound leaves room while keeping the
// JSON nesting of a written tree within what JSON decoders accept.
const maxNonSymmetricDepth = 64

// BinFeatures returns the bin-feature list of spec §5.4 built from d's
// features: for each float feature in order, one split per border (features
// without borders are unused and contribute none); then for each one-hot
// feature, one per value; then for each CTR, one per border. Trees refer to
// splits by their position in this list, which is what Definition.Splits
// must hold (Validate checks it); model builders can set
// d.Splits = d.BinFeatures().
func (d *Definition) BinFeatures() []Split {
	n := 0
	for _, f := range d.FloatFeatures {
		n += len(f.Borders)
	}
	for _, o := range d.OneHotFeatures {
		n += len(o.Values)
	}
	for _, c := range d.Ctrs {
		n += len(c.Borders)
	}
	splits := make([]Split, 0, n)
	for _, f := range d.FloatFeatures {
		for _, b := range f.Borders {
			splits = append(splits, Split{Kind: SplitFloat, Feature: f.Index, Border: b})
		}
	}
	for _, o := range d.OneHotFeatures {
		for _, v := range o.Values {
			splits = append(splits, Split{Kind: SplitOneHot, Feature: o.CatIndex, Value: v})
		}
	}
	for i, c := range d.Ctrs {
		for _, b := range c.Borders {
			splits = append(splits, Split{Kind: SplitCtr, Feature: i, Border: b})
		}
	}
	return splits
}

// Validate checks everything the evaluator and the JSON writer rely on and
// returns a *ValidationError (wrapping ErrInvalid) naming the first problem:
//   - ApproxDimension ≥ 1, len(Bias) == ApproxDimension, Scale and Bias finite;
//   - FloatFeatures[i].Index == i and CatFeatures[i].Index == i; the flat
//     indexes of all features are 0..n-1, each once;
//   - borders (float and CTR) finite and strictly ascending;
//   - one-hot features on existing, used categorical features, in
//     increasing CatIndex order, each with at least one value;
//   - CTR projections on existing features (categorical ones used), known
//     CTR types, finite priors, a table with the same (projection, type)
//     for every CTR, TargetBorderIdx < TargetClassesCount where it indexes
//     counters;
//   - tables with unique keys, counter arrays sized for their type and every
//     hash mapping to an existing counter index;
//   - Splits equal to BinFeatures();
//   - oblivious trees of depth ≤ 16 with in-range splits, 2^depth ×
//     ApproxDimension finite leaf values and 0 or 2^depth finite leaf weights;
//   - non-symmetric trees whose child offsets stay inside the tree, whose
//     nodes each have one parent (a tree, not a graph), of depth ≤ 64, whose
//     stopping nodes have a leaf offset inside LeafValues (a multiple of the
//     dimension), with in-range splits on nodes that have children;
//   - not both tree kinds at once.
func (d *Definition) Validate() error {
	if d.ApproxDimension < 1 {
		return invalidf("", "approx dimension %d (want ≥ 1)", d.ApproxDimension)
	}
	if len(d.Bias) != d.ApproxDimension {
		return invalidf("bias", "%d values for approx dimension %d", len(d.Bias), d.ApproxDimension)
	}
	if !finiteFloat(d.Scale) {
		return invalidf("scale", "%v is not finite", d.Scale)
	}
	for i, b := range d.Bias {
		if !finiteFloat(b) {
			return invalidf(fmt.Sprintf("bias %d", i), "%v is not finite", b)
		}
	}
	if err := d.validateFeatures(); err != nil {
		return err
	}
	if err := d.validateCtrs(); err != nil {
		return err
	}
	if err := d.validateSplits(); err != nil {
		return err
	}
	if len(d.Oblivious) > 0 && len(d.Trees) > 0 {
		return invalidf("", "has both %d oblivious and %d non-symmetric trees", len(d.Oblivious), len(d.Trees))
	}
	for i := range d.Oblivious {
		if err := d.validateOblivious(i); err != nil {
			return err
		}
	}
	for i := range d.Trees {
		if err := d.validateTree(i); err != nil {
			return err
		}
	}
	return nil
}

func finiteFloat(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func finiteFloat32(v float32) bool { return finiteFloat(float64(v)) }

func validateBorders(path string, borders []float32) error {
	for i, b := range borders {
		if !finiteFloat32(b) {
			return invalidf(path, "border %d is %v", i, b)
		}
		if i > 0 && !(borders[i-1] < b) {
			return invalidf(path, "borders not strictly ascending: border %d (%v) after %v", i, b, borders[i-1])
		}
	}
	return nil
}

func (d *Definition) validateFeatures() error {
	nFlat := len(d.FloatFeatures) + len(d.CatFeatures)
	flat := make([]bool, nFlat)
	useFlat := func(path string, fi int) error {
		if fi < 0 || fi >= nFlat {
			return invalidf(path, "flat index %d out of range (have %d features)", fi, nFlat)
		}
		if flat[fi] {
			return invalidf(path, "flat index %d used twice", fi)
		}
		flat[fi] = true
		return nil
	}
	for i, f := range d.FloatFeatures {
		path := fmt.Sprintf("float feature %d", i)
		if f.Index != i {
			return invalidf(path, "index %d, want its position %d", f.Index, i)
		}
		if err := useFlat(path, f.FlatIndex); err != nil {
			return err
		}
		if f.NanTreatment > NanAsTrue {
			return invalidf(path, "unknown NaN treatment %d", f.NanTreatment)
		}
		if err := validateBorders(path, f.Borders); err != nil {
			return err
		}
	}
	for i, c := range d.CatFeatures {
		path := fmt.Sprintf("categorical feature %d", i)
		if c.Index != i {
			return invalidf(path, "index %d, want its position %d", c.Index, i)
		}
		if err := useFlat(path, c.FlatIndex); err != nil {
			return err
		}
	}
	prev := -1
	for i, o := range d.OneHotFeatures {
		path := fmt.Sprintf("one-hot feature %d", i)
		if err := d.checkCat(path, o.CatIndex); err != nil {
			return err
		}
		if o.CatIndex <= prev {
			return invalidf(path, "categorical feature %d after %d (want increasing, one entry per feature)", o.CatIndex, prev)
		}
		prev = o.CatIndex
		if len(o.Values) == 0 {
			return invalidf(path, "no values")
		}
		if len(o.StringValues) != 0 && len(o.StringValues) != len(o.Values) {
			return invalidf(path, "%d string values for %d values", len(o.StringValues), len(o.Values))
		}
	}
	return nil
}

// checkCat checks a reference to a categorical feature that is read.
func (d *Definition) checkCat(path string, idx int) error {
	if idx < 0 || idx >= len(d.CatFeatures) {
		return invalidf(path, "categorical feature %d out of range (have %d)", idx, len(d.CatFeatures))
	}
	if !d.CatFeatures[idx].Used {
		return invalidf(path, "categorical feature %d is read but marked unused", idx)
	}
	return nil
}

func (d *Definition) validateBase(path string, b *CtrBase) error {
	if b.Type > CtrFeatureFreq {
		return invalidf(path, "unknown CTR type %d", b.Type)
	}
	p := &b.Projection
	if len(p.CatFeatures) == 0 {
		return invalidf(path, "projection has no categorical feature")
	}
	for _, c := range p.CatFeatures {
		if err := d.checkCat(path+" projection", c); err != nil {
			return err
		}
	}
	for _, s := range p.FloatSplits {
		if s.FloatIndex < 0 || s.FloatIndex >= len(d.FloatFeatures) {
			return invalidf(path+" projection", "float feature %d out of range (have %d)", s.FloatIndex, len(d.FloatFeatures))
		}
		if !finiteFloat32(s.Border) {
			return invalidf(path+" projection", "float split border %v", s.Border)
		}
	}
	for _, s := range p.OneHotSplits {
		if err := d.checkCat(path+" projection", s.CatIndex); err != nil {
			return err
		}
	}
	return nil
}

func (d *Definition) validateCtrs() error {
	tables := make(map[string]int, len(d.CtrTables))
	for i := range d.CtrTables {
		t := &d.CtrTables[i]
		path := fmt.Sprintf("ctr table %d", i)
		if err := d.validateBase(path, &t.Base); err != nil {
			return err
		}
		key := ctrBaseKey(&t.Base)
		if j, dup := tables[key]; dup {
			return invalidf(path, "same projection and type as table %d", j)
		}
		tables[key] = i
		if err := validateTable(path, t); err != nil {
			return err
		}
	}
	for i := range d.Ctrs {
		c := &d.Ctrs[i]
		path := fmt.Sprintf("ctr %d", i)
		if err := d.validateBase(path, &c.Base); err != nil {
			return err
		}
		for _, v := range []float32{c.PriorNum, c.PriorDenom, c.Shift, c.Scale} {
			if !finiteFloat32(v) {
				return invalidf(path, "prior, shift or scale %v is not finite", v)
			}
		}
		if err := validateBorders(path, c.Borders); err != nil {
			return err
		}
		j, ok := tables[ctrBaseKey(&c.Base)]
		if !ok {
			return invalidf(path, "no CTR table for its projection and type %s", ctrTypeName(c.Base.Type))
		}
		t := &d.CtrTables[j]
		if c.TargetBorderIdx < 0 {
			return invalidf(path, "target border index %d", c.TargetBorderIdx)
		}
		if (c.Base.Type == CtrBuckets || c.Base.Type == CtrBorders) && c.TargetBorderIdx >= t.TargetClassesCount {
			return invalidf(path, "target border index %d, table %d has %d target classes", c.TargetBorderIdx, j, t.TargetClassesCount)
		}
	}
	return nil
}

func validateTable(path string, t *CtrTable) error {
	var slots int
	switch t.Base.Type {
	case CtrBinarizedTargetMeanValue, CtrFloatTargetMeanValue:
		if len(t.Counters) != 0 {
			return invalidf(path, "mean-value table with %d integer counters", len(t.Counters))
		}
		for k, m := range t.Means {
			if !finiteFloat32(m.Sum) {
				return invalidf(path, "mean %d sum %v is not finite", k, m.Sum)
			}
		}
		slots = len(t.Means)
	case CtrCounter, CtrFeatureFreq:
		if len(t.Means) != 0 {
			return invalidf(path, "counter table with %d mean values", len(t.Means))
		}
		slots = len(t.Counters)
	default: // Borders, Buckets
		if len(t.Means) != 0 {
			return invalidf(path, "class-counter table with %d mean values", len(t.Means))
		}
		if t.TargetClassesCount < 1 {
			return invalidf(path, "target classes count %d (want ≥ 1)", t.TargetClassesCount)
		}
		if len(t.Counters)%t.TargetClassesCount != 0 {
			return invalidf(path, "%d counters is not a multiple of %d target classes", len(t.Counters), t.TargetClassesCount)
		}
		slots = len(t.Counters) / t.TargetClassesCount
	}
	for h, idx := range t.Index {
		if h == emptyBucketHash {
			return invalidf(path, "hash %d is reserved for empty buckets", h)
		}
		if uint64(idx) >= uint64(slots) {
			return invalidf(path, "hash %d maps to counter index %d (have %d)", h, idx, slots)
		}
	}
	return nil
}

// ctrBaseKey is CatBoost's identity of a CTR base: projection and type.
func ctrBaseKey(b *CtrBase) string {
	return CtrIdentifier(b)
}

func (d *Definition) validateSplits() error {
	want := d.BinFeatures()
	if len(d.Splits) != len(want) {
		return invalidf("splits", "%d entries, the features define %d bin features", len(d.Splits), len(want))
	}
	for i, s := range d.Splits {
		w := want[i]
		if s.Kind != w.Kind || s.Feature != w.Feature || math.Float32bits(s.Border) != math.Float32bits(w.Border) || s.Value != w.Value {
			return invalidf(fmt.Sprintf("split %d", i), "%s, the features define %s here", describeSplit(s), describeSplit(w))
		}
	}
	return nil
}

// describeSplit describes a split for error messages.
func describeSplit(s Split) string {
	switch s.Kind {
	case SplitFloat:
		return fmt.Sprintf("float feature %d > %v", s.Feature, s.Border)
	case SplitOneHot:
		return fmt.Sprintf("categorical feature %d == %d", s.Feature, s.Value)
	case SplitCtr:
		return fmt.Sprintf("ctr %d > %v", s.Feature, s.Border)
	}
	return fmt.Sprintf("split kind %d feature %d border %v value %d", s.Kind, s.Feature, s.Border, s.Value)
}

func (d *Definition) checkLeaves(path string, values, weights []float64) error {
	for i, v := range values {
		if !finiteFloat(v) {
			return invalidf(path, "leaf value %d is %v", i, v)
		}
	}
	for i, w := range weights {
		if !finiteFloat(w) {
			return invalidf(path, "leaf weight %d is %v", i, w)
		}
	}
	return nil
}

func (d *Definition) validateOblivious(i int) error {
	t := &d.Oblivious[i]
	path := fmt.Sprintf("tree %d", i)
	depth := len(t.Splits)
	if depth > maxObliviousDepth {
		return invalidf(path, "depth %d (max %d)", depth, maxObliviousDepth)
	}
	for k, s := range t.Splits {
		if s < 0 || s >= len(d.Splits) {
			return invalidf(fmt.Sprintf("%s split %d", path, k), "bin feature %d out of range (have %d)", s, len(d.Splits))
		}
	}
	leaves := 1 << depth
	if len(t.LeafValues) != leaves*d.ApproxDimension {
		return invalidf(path, "%d leaf values, want 2^%d × %d = %d", len(t.LeafValues), depth, d.ApproxDimension, leaves*d.ApproxDimension)
	}
	if len(t.LeafWeights) != 0 && len(t.LeafWeights) != leaves {
		return invalidf(path, "%d leaf weights, want 0 or %d", len(t.LeafWeights), leaves)
	}
	return d.checkLeaves(path, t.LeafValues, t.LeafWeights)
}

func (d *Definition) validateTree(i int) error {
	t := &d.Trees[i]
	path := fmt.Sprintf("tree %d", i)
	n := len(t.Nodes)
	if n == 0 {
		return invalidf(path, "no nodes")
	}
	dim := d.ApproxDimension
	if len(t.LeafValues)%dim != 0 {
		return invalidf(path, "%d leaf values is not a multiple of the dimension %d", len(t.LeafValues), dim)
	}
	if len(t.LeafWeights) != 0 && len(t.LeafWeights) != len(t.LeafValues)/dim {
		return invalidf(path, "%d leaf weights for %d leaves", len(t.LeafWeights), len(t.LeafValues)/dim)
	}
	parents := make([]uint8, n)
	depth := make([]int, n)
	for k, nd := range t.Nodes {
		npath := fmt.Sprintf("%s node %d", path, k)
		if nd.Left != 0 || nd.Right != 0 {
			if nd.Split < 0 || nd.Split >= len(d.Splits) {
				return invalidf(npath, "bin feature %d out of range (have %d)", nd.Split, len(d.Splits))
			}
		}
		if nd.Left == 0 || nd.Right == 0 || nd.LeafOffset != NoLeaf {
			off := uint64(nd.LeafOffset)
			if nd.LeafOffset == NoLeaf || off%uint64(dim) != 0 || off+uint64(dim) > uint64(len(t.LeafValues)) {
				return invalidf(npath, "leaf offset %d invalid (dimension %d, %d leaf values)", nd.LeafOffset, dim, len(t.LeafValues))
			}
		}
		for _, diff := range []uint16{nd.Left, nd.Right} {
			if diff == 0 {
				continue
			}
			c := k + int(diff)
			if c >= n {
				return invalidf(npath, "child offset %d past the tree's %d nodes", diff, n)
			}
			parents[c]++
			if parents[c] > 1 {
				return invalidf(npath, "node %d has two parents", c)
			}
			depth[c] = depth[k] + 1
			if depth[c] > maxNonSymmetricDepth {
				return invalidf(npath, "deeper than %d", maxNonSymmetricDepth)
			}
		}
	}
	for k := 1; k < n; k++ {
		if parents[k] == 0 {
			return invalidf(fmt.Sprintf("%s node %d", path, k), "unreachable")
		}
	}
	return d.checkLeaves(path, t.LeafValues, t.LeafWeights)
}
