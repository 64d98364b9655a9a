package catboost

import (
	"fmt"
	"math"
	"slices"
)

// This file compiles a Definition into the flat structures the evaluator
// walks. Only what the trees use is kept: borders no tree splits on, CTRs
// without used borders and categorical features nothing reads are dropped,
// which never changes a result (a split's outcome depends only on its own
// value and border).
//
// Every used split gets two forms:
//   - a value slot and a float32 border, for the row path: the row's values
//     (float inputs with NaN replaced, CTR values, one-hot indicators) sit in
//     one float32 vector and a split is vals[slot] > border;
//   - a byte column and a threshold, for the block path: the split is
//     bin ≥ t, tested on eight rows at once.

// blockRows is the number of rows binarized and walked together; one block's
// bins, sums and CTR scratch stay in L1/L2 while the trees stream past.
const blockRows = 1024

// rowSlotsMax is the most value slots the compact single-row trees address
// (uint8 slots into a [256]float32).
const rowSlotsMax = 256

// rowTreeDepthMax is the deepest oblivious tree the compact row form holds.
const rowTreeDepthMax = 8

// evaluator is a compiled model. It is immutable after compile and shared by
// every Predict call.
type evaluator struct {
	dim      int
	numFloat int
	numCat   int
	scale    float64
	bias     []float64
	nanSub   []float32 // per float feature: what NaN becomes (±Inf, spec §2)

	// Row-path value slots: float inputs, then CTRs, then one-hot indicators.
	floatInputs []int32 // float feature Index per float slot
	ctrSlot0    int
	oneHotSlot0 int
	nSlots      int

	hashed  []int32     // categorical Index of each hashed categorical input
	oneHots []oneHotInd // one-hot indicators (slot oneHotSlot0+i, column oneHotCol0+i)
	bases   []ctrBaseEval
	ctrs    []ctrEval

	// Block-path columns: float blocks, then CTR blocks, then one-hot indicators.
	floatCols  []column
	nCtrCols   int // CTR columns: their bins come precomputed (ctrEval.bins)
	oneHotCol0 int
	nCols      int

	symmetric bool
	maxDepth  int
	levels    []level    // oblivious levels, tree after tree
	trees     []treeEval // oblivious trees
	rowTrees  []rowTree  // compact row form; nil when the model does not fit it
	leaves    []float64  // all leaf values, tree after tree
	nodes     []nodeEval // non-symmetric nodes, tree after tree
	roots     []int32    // first node of each non-symmetric tree
	depths    []int32    // longest root-to-leaf path of each non-symmetric tree
}

// oneHotInd is a 0/1 input: the hashed categorical equals value.
type oneHotInd struct {
	hashed int32
	value  int32
}

// ctrBaseEval is one CTR table with the CTR features computed from it: the
// projection hash and the lookup are done once per row for all of them.
type ctrBaseEval struct {
	cats         []int32 // hashed positions, in projection order
	floatSplits  []projFloat
	oneHotSplits []oneHotInd
	table        hashTable
	ctrs         []int32 // indexes into evaluator.ctrs
}

type projFloat struct {
	feature int32
	border  float32
}

// ctrEval holds a CTR's value for every table entry, computed at compile
// time with the float32 formula, and the value of an unseen combination.
// NaN values (a zero denominator) are stored as -Inf: both compare false
// against every border.
type ctrEval struct {
	values []float32
	unseen float32
	col0   int // first block column
	ncols  int
	// bins[c][i] is the bin of values[i] in block column col0+c, and
	// bins[c][len(values)] the unseen value's: the block path reads CTR bins
	// instead of binarizing CTR values (the values are a finite set).
	bins [][]uint8
}

// column binarizes one float feature against a block of its used borders.
type column struct {
	src int32
	z   binarizer
}

// level is one split of an oblivious tree in block form: bin ≥ t over the
// bins at off, with k = 0x0101…01 × (0x80 − t) precomputed for SWAR.
type level struct {
	off uint32
	k   uint64
}

type treeEval struct {
	firstLevel uint32
	depth      uint32
	leafOff    uint32
}

// rowTree is an oblivious tree in the compact single-row form.
type rowTree struct {
	slots   [rowTreeDepthMax]uint8
	borders [rowTreeDepthMax]float32
	leafOff uint32
	depth   uint32
}

// nodeEval is a non-symmetric node: go right when vals[slot] > border; a zero
// offset stops at this node, whose leaf values start at leafOff.
type nodeEval struct {
	slot    int32
	border  float32
	left    uint16
	right   uint16
	leafOff uint32
}

// splitRef is how the compiled trees test one bin feature.
type splitRef struct {
	slot   int
	border float32
	col    int
	t      int
}

// compileEvaluator builds the evaluator of a validated definition.
func compileEvaluator(d *Definition) (*evaluator, error) {
	e := &evaluator{
		dim:       d.ApproxDimension,
		scale:     d.Scale,
		bias:      slices.Clone(d.Bias),
		symmetric: len(d.Trees) == 0,
	}
	for _, f := range d.FloatFeatures {
		e.numFloat = max(e.numFloat, f.Index+1)
	}
	for _, c := range d.CatFeatures {
		e.numCat = max(e.numCat, c.Index+1)
	}
	e.nanSub = make([]float32, e.numFloat)
	for _, f := range d.FloatFeatures {
		e.nanSub[f.Index] = float32(math.Inf(-1))
		if f.HasNans && f.NanTreatment == NanAsTrue {
			e.nanSub[f.Index] = float32(math.Inf(1))
		}
	}

	used, err := usedSplits(d)
	if err != nil {
		return nil, err
	}
	refs, err := e.compileInputs(d, used)
	if err != nil {
		return nil, err
	}
	if err := e.compileTrees(d, refs); err != nil {
		return nil, err
	}
	return e, nil
}

// usedSplits returns the bin-feature indexes the trees use, in list order.
func usedSplits(d *Definition) ([]int, error) {
	seen := make([]bool, len(d.Splits))
	mark := func(s int, where string) error {
		if s < 0 || s >= len(d.Splits) {
			return invalidf(where, "split %d of %d", s, len(d.Splits))
		}
		seen[s] = true
		return nil
	}
	for t, tr := range d.Oblivious {
		for _, s := range tr.Splits {
			if err := mark(s, fmt.Sprintf("tree %d", t)); err != nil {
				return nil, err
			}
		}
	}
	for t, tr := range d.Trees {
		for _, n := range tr.Nodes {
			if n.Left != 0 || n.Right != 0 {
				if err := mark(n.Split, fmt.Sprintf("tree %d", t)); err != nil {
					return nil, err
				}
			}
		}
	}
	var out []int
	for s, ok := range seen {
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// compileInputs lays out slots, columns, hashed categoricals and CTR bases
// for the used splits and returns each used split's reference.
func (e *evaluator) compileInputs(d *Definition, used []int) (map[int]splitRef, error) {
	floatBorders := map[int][]float32{}
	ctrBorders := map[int][]float32{}
	var oneHotVals []oneHotInd // value = split value, hashed = cat Index for now
	for _, s := range used {
		sp := d.Splits[s]
		switch sp.Kind {
		case SplitFloat:
			floatBorders[sp.Feature] = append(floatBorders[sp.Feature], sp.Border)
		case SplitCtr:
			ctrBorders[sp.Feature] = append(ctrBorders[sp.Feature], sp.Border)
		case SplitOneHot:
			ind := oneHotInd{hashed: int32(sp.Feature), value: sp.Value}
			if !slices.Contains(oneHotVals, ind) {
				oneHotVals = append(oneHotVals, ind)
			}
		default:
			return nil, invalidf(fmt.Sprintf("split %d", s), "unknown kind %d", sp.Kind)
		}
	}
	hashedPos := map[int]int32{}
	hash := func(cat int) int32 {
		if p, ok := hashedPos[cat]; ok {
			return p
		}
		p := int32(len(e.hashed))
		hashedPos[cat] = p
		e.hashed = append(e.hashed, int32(cat))
		return p
	}

	refs := map[int]splitRef{}
	// Float inputs: one slot per used feature, columns over its used borders.
	floatSlot := map[int]int{}
	floatUsed := map[int][]float32{}
	for f := range e.numFloat {
		bs, ok := floatBorders[f]
		if !ok {
			continue
		}
		floatSlot[f] = len(e.floatInputs)
		e.floatInputs = append(e.floatInputs, int32(f))
		bs = sortedUniqueBorders(bs)
		floatUsed[f] = bs
		for _, blk := range columnBlocks(bs) {
			e.floatCols = append(e.floatCols, column{src: int32(f), z: newBinarizer(blk)})
		}
	}
	// CTRs with used borders, grouped by table.
	e.ctrSlot0 = len(e.floatInputs)
	ctrPos := map[int]int{}
	ctrUsed := map[int][]float32{}
	baseOf := map[*CtrTable]int{}
	for c := range d.Ctrs {
		bs, ok := ctrBorders[c]
		if !ok {
			continue
		}
		ctr := &d.Ctrs[c]
		table := findCtrTable(d, ctr.Base)
		if table == nil {
			return nil, invalidf(fmt.Sprintf("ctr %d", c), "no table for its base")
		}
		ev, err := compileCtr(ctr, table)
		if err != nil {
			return nil, fmt.Errorf("ctr %d: %w", c, err)
		}
		bs = sortedUniqueBorders(bs)
		ctrUsed[c] = bs
		ev.col0 = e.nCtrCols
		for _, blk := range columnBlocks(bs) {
			z := newBinarizer(blk)
			bins := make([]uint8, len(ev.values)+1)
			for i, v := range ev.values {
				bins[i] = z.bin(orderedKey(v))
			}
			bins[len(ev.values)] = z.bin(orderedKey(ev.unseen))
			ev.bins = append(ev.bins, bins)
		}
		ev.ncols = len(ev.bins)
		e.nCtrCols += ev.ncols
		ctrPos[c] = len(e.ctrs)
		e.ctrs = append(e.ctrs, ev)

		bi, ok := baseOf[table]
		if !ok {
			bi = len(e.bases)
			baseOf[table] = bi
			p := ctr.Base.Projection
			b := ctrBaseEval{table: newHashTable(table.Index, ev.values)}
			for _, j := range p.CatFeatures {
				b.cats = append(b.cats, hash(j))
			}
			for _, fs := range p.FloatSplits {
				b.floatSplits = append(b.floatSplits, projFloat{feature: int32(fs.FloatIndex), border: fs.Border})
			}
			for _, os := range p.OneHotSplits {
				b.oneHotSplits = append(b.oneHotSplits, oneHotInd{hashed: hash(os.CatIndex), value: os.Value})
			}
			e.bases = append(e.bases, b)
		}
		e.bases[bi].ctrs = append(e.bases[bi].ctrs, int32(ctrPos[c]))
	}
	e.oneHotSlot0 = e.ctrSlot0 + len(e.ctrs)
	for _, ind := range oneHotVals {
		e.oneHots = append(e.oneHots, oneHotInd{hashed: hash(int(ind.hashed)), value: ind.value})
	}
	e.nSlots = e.oneHotSlot0 + len(e.oneHots)
	e.oneHotCol0 = len(e.floatCols) + e.nCtrCols
	e.nCols = e.oneHotCol0 + len(e.oneHots)

	for _, s := range used {
		sp := d.Splits[s]
		var r splitRef
		switch sp.Kind {
		case SplitFloat:
			p := borderPos(floatUsed[sp.Feature], sp.Border)
			r = splitRef{slot: floatSlot[sp.Feature], border: sp.Border, col: firstCol(e.floatCols, int32(sp.Feature)) + p/maxColumnBorders, t: p%maxColumnBorders + 1}
		case SplitCtr:
			c := ctrPos[sp.Feature]
			p := borderPos(ctrUsed[sp.Feature], sp.Border)
			r = splitRef{slot: e.ctrSlot0 + c, border: sp.Border, col: len(e.floatCols) + e.ctrs[c].col0 + p/maxColumnBorders, t: p%maxColumnBorders + 1}
		case SplitOneHot:
			i := slices.IndexFunc(e.oneHots, func(o oneHotInd) bool {
				return e.hashed[o.hashed] == int32(sp.Feature) && o.value == sp.Value
			})
			r = splitRef{slot: e.oneHotSlot0 + i, border: 0.5, col: e.oneHotCol0 + i, t: 1}
		}
		refs[s] = r
	}
	return refs, nil
}

// compileCtr precomputes a CTR's value for every entry of its table.
func compileCtr(c *Ctr, t *CtrTable) (ctrEval, error) {
	var n int
	switch c.Base.Type {
	case CtrBinarizedTargetMeanValue, CtrFloatTargetMeanValue:
		n = len(t.Means)
	case CtrCounter, CtrFeatureFreq:
		n = len(t.Counters)
	case CtrBorders, CtrBuckets:
		if t.TargetClassesCount < 1 || c.TargetBorderIdx < 0 || c.TargetBorderIdx >= t.TargetClassesCount {
			return ctrEval{}, invalidf("table", "target border %d of %d classes", c.TargetBorderIdx, t.TargetClassesCount)
		}
		n = len(t.Counters) / t.TargetClassesCount
	default:
		return ctrEval{}, fmt.Errorf("ctr type %d: %w", c.Base.Type, ErrUnsupported)
	}
	for _, idx := range t.Index {
		if int(idx) >= n {
			return ctrEval{}, invalidf("table", "index %d beyond %d counters", idx, n)
		}
	}
	ev := ctrEval{values: make([]float32, n), unseen: noNaN(c.value(t, 0, false))}
	for i := range ev.values {
		ev.values[i] = noNaN(c.value(t, uint32(i), true))
	}
	return ev, nil
}

func noNaN(v float32) float32 {
	if v != v {
		return float32(math.Inf(-1))
	}
	return v
}

// findCtrTable returns the table of a CTR base, matched as CatBoost matches
// bases: by projection and type, not by TargetBorderClassifierIdx.
func findCtrTable(d *Definition, b CtrBase) *CtrTable {
	for i := range d.CtrTables {
		t := &d.CtrTables[i]
		if t.Base.Type == b.Type && sameProjection(&t.Base.Projection, &b.Projection) {
			return t
		}
	}
	return nil
}

func sameProjection(a, b *Projection) bool {
	return slices.Equal(a.CatFeatures, b.CatFeatures) &&
		slices.Equal(a.FloatSplits, b.FloatSplits) &&
		slices.Equal(a.OneHotSplits, b.OneHotSplits)
}

// sortedUniqueBorders sorts borders and drops duplicates, -0 and +0 being one.
func sortedUniqueBorders(bs []float32) []float32 {
	bs = slices.Clone(bs)
	slices.SortFunc(bs, func(a, b float32) int {
		ka, kb := orderedKey(a), orderedKey(b)
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(bs, func(a, b float32) bool { return orderedKey(a) == orderedKey(b) })
}

func borderPos(bs []float32, b float32) int {
	k := orderedKey(b)
	return slices.IndexFunc(bs, func(x float32) bool { return orderedKey(x) == k })
}

func firstCol(cols []column, src int32) int {
	return slices.IndexFunc(cols, func(c column) bool { return c.src == src })
}

// compileTrees lays the trees out in both forms.
func (e *evaluator) compileTrees(d *Definition, refs map[int]splitRef) error {
	dim := e.dim
	if !e.symmetric {
		for t, tr := range d.Trees {
			base := uint32(len(e.leaves))
			e.leaves = append(e.leaves, tr.LeafValues...)
			e.roots = append(e.roots, int32(len(e.nodes)))
			e.depths = append(e.depths, int32(nodeDepth(tr.Nodes, 0)))
			for n, node := range tr.Nodes {
				ne := nodeEval{left: node.Left, right: node.Right}
				if node.Left != 0 || node.Right != 0 {
					r := refs[node.Split]
					ne.slot, ne.border = int32(r.slot), r.border
				}
				if node.Left == 0 || node.Right == 0 {
					if node.LeafOffset == NoLeaf || int(node.LeafOffset)+dim > len(tr.LeafValues) {
						return invalidf(fmt.Sprintf("tree %d node %d", t, n), "leaf offset %d outside %d leaf values", node.LeafOffset, len(tr.LeafValues))
					}
					ne.leafOff = base + node.LeafOffset
				}
				e.nodes = append(e.nodes, ne)
			}
		}
		return nil
	}
	fitsRow := e.nSlots <= rowSlotsMax
	for t, tr := range d.Oblivious {
		depth := len(tr.Splits)
		if len(tr.LeafValues) != dim<<depth {
			return invalidf(fmt.Sprintf("tree %d", t), "%d leaf values for depth %d", len(tr.LeafValues), depth)
		}
		e.maxDepth = max(e.maxDepth, depth)
		te := treeEval{firstLevel: uint32(len(e.levels)), depth: uint32(depth), leafOff: uint32(len(e.leaves))}
		rt := rowTree{leafOff: te.leafOff, depth: uint32(depth)}
		for i, s := range tr.Splits {
			r := refs[s]
			e.levels = append(e.levels, level{off: uint32(r.col * blockRows), k: 0x0101010101010101 * uint64(0x80-r.t)})
			if i < rowTreeDepthMax {
				rt.slots[i], rt.borders[i] = uint8(r.slot), r.border+0 // -0 becomes +0, for above
			}
		}
		e.trees = append(e.trees, te)
		e.rowTrees = append(e.rowTrees, rt)
		e.leaves = append(e.leaves, tr.LeafValues...)
	}
	// Padding: the block path reads every dimension-1 tree of depth ≤ 8 as a
	// [256]float64 from its first leaf (only the tree's own leaves are ever
	// indexed).
	e.leaves = append(e.leaves, make([]float64, 256)...)
	if !fitsRow || e.maxDepth > rowTreeDepthMax {
		e.rowTrees = nil
	}
	return nil
}
