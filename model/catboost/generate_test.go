package catboost

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/loan-scorer/loan-scorer/model"
)

// RandomConfig shapes the definitions Random generates. Zero fields take the
// defaults of DefaultRandomConfig.
type RandomConfig struct {
	// Trees is the number of trees; Depth the depth of oblivious trees and the
	// maximum depth of non-symmetric ones (1..16).
	Trees int
	Depth int
	// Symmetric selects oblivious trees; false gives non-symmetric trees with
	// nodes that have zero, one or two children.
	Symmetric bool
	// Dimension is the number of raw outputs per row (ApproxDimension).
	Dimension int
	// FloatFeatures and CatFeatures are the feature counts. Float and
	// categorical features are interleaved at random in the flat row.
	FloatFeatures int
	CatFeatures   int
	// BordersPerFeature is the largest number of borders a float feature gets
	// (each gets 1..BordersPerFeature); values above 254 exercise CatBoost's
	// 254-border blocks.
	BordersPerFeature int
	// UnusedFeatures leaves about one float feature in five without borders.
	UnusedFeatures bool
	// NaNs gives about half of the float features HasNans with a random NaN
	// treatment (AsIs, AsFalse, AsTrue).
	NaNs bool
	// Categories is the cardinality of each categorical feature; Cardinalities
	// overrides it per feature when non-nil.
	Categories    int
	Cardinalities []int
	// OneHotFeatures of the categorical features (the first ones) get one-hot
	// splits, each on up to OneHotValues of its categories.
	OneHotFeatures int
	OneHotValues   int
	// Ctrs is the number of CTR tables (bases); each carries one or two CTR
	// features. CtrTypes restricts their types (nil: all six).
	Ctrs     int
	CtrTypes []CtrType
	// MaxProjection is the largest number of categorical features combined in
	// one CTR; ProjectionSplits also puts float and one-hot splits into some
	// projections.
	MaxProjection    int
	ProjectionSplits bool
	// CtrBorders is the largest number of borders per CTR feature.
	CtrBorders int
	// MaxTableEntries caps the entries of a CTR table over a combination.
	MaxTableEntries int
	// TargetClasses is the counters per entry of Borders and Buckets tables (≥ 2).
	TargetClasses int
	// ScaleAndBias draws a random scale and bias instead of 1 and 0.
	ScaleAndBias bool
	// Loss is recorded in the model's params; "" picks Logloss for dimension 1
	// and MultiClass above.
	Loss string
	// FloatNames and CatNames name the features (feature_id); missing names
	// are left empty.
	FloatNames []string
	CatNames   []string
}

// DefaultRandomConfig returns a small model exercising every feature kind.
func DefaultRandomConfig() RandomConfig {
	return RandomConfig{
		Trees: 20, Depth: 4, Symmetric: true, Dimension: 1,
		FloatFeatures: 4, CatFeatures: 3, BordersPerFeature: 16, UnusedFeatures: true, NaNs: true,
		Categories: 12, OneHotFeatures: 1, OneHotValues: 4,
		Ctrs: 4, MaxProjection: 2, ProjectionSplits: true, CtrBorders: 6, MaxTableEntries: 200,
		TargetClasses: 2, ScaleAndBias: true,
	}
}

// LoanShapedConfig returns the shape of the loan-default model: 1000
// oblivious trees of depth 6 over the 9 numeric and 9 categorical fields of a
// loan application (DESIGN.md), CTRs over high-cardinality columns (City and
// Bank have thousands of categories) and their combinations.
func LoanShapedConfig() RandomConfig {
	return RandomConfig{
		Trees: 1000, Depth: 6, Symmetric: true, Dimension: 1,
		FloatFeatures: 9, CatFeatures: 9, BordersPerFeature: 128, NaNs: true,
		// is_new, FranchiseCode, City, State, Bank, BankState, RevLineCr, naics_first_two, same_state
		Cardinalities:  []int{2, 2500, 8000, 52, 5000, 52, 4, 25, 2},
		OneHotFeatures: 0, OneHotValues: 2,
		Ctrs: 24, CtrTypes: []CtrType{CtrBorders, CtrCounter, CtrBinarizedTargetMeanValue},
		MaxProjection: 2, CtrBorders: 15, MaxTableEntries: 20000, TargetClasses: 2,
		ScaleAndBias: true, Loss: "Logloss",
		FloatNames: []string{"Term", "NoEmp", "CreateJob", "RetainedJob", "longitude", "latitude", "GrAppv", "SBA_Appv", "UrbanRural"},
		CatNames:   []string{"is_new", "FranchiseCode", "City", "State", "Bank", "BankState", "RevLineCr", "naics_first_two", "same_state"},
	}
}

// infoCardinalities is the Info key under which Random records each
// categorical feature's cardinality, so RandomBatch draws seen categories.
const infoCardinalities = "random_cardinalities"

// randomCategory is the string of category k of a generated categorical
// feature: its decimal form, as integer-coded columns reach CatBoost.
func randomCategory(k int) string { return strconv.Itoa(k) }

// Random returns a random but valid definition shaped by cfg: sorted unique
// float32 borders, NaN rules, one-hot features, CTRs of the configured types
// over feature combinations with tables of random counters, oblivious or
// non-symmetric trees, any dimension, scale and bias. The same rng state gives
// the same definition.
func Random(rng *rand.Rand, cfg RandomConfig) *Definition {
	g := &generator{rng: rng, cfg: withDefaults(cfg), d: &Definition{}}
	g.features()
	g.oneHots()
	g.ctrs()
	g.splits()
	g.trees()
	g.info()
	return g.d
}

func withDefaults(c RandomConfig) RandomConfig {
	def := DefaultRandomConfig()
	if c.Trees <= 0 {
		c.Trees = def.Trees
	}
	c.Depth = min(max(c.Depth, 1), 16)
	c.Dimension = max(c.Dimension, 1)
	c.FloatFeatures = max(c.FloatFeatures, 0)
	c.CatFeatures = max(c.CatFeatures, 0)
	if c.FloatFeatures == 0 && (c.CatFeatures == 0 || (c.OneHotFeatures == 0 && c.Ctrs <= 0)) {
		c.FloatFeatures = 1 // something for the trees to split on
	}
	c.BordersPerFeature = max(c.BordersPerFeature, 1)
	c.Categories = max(c.Categories, 2)
	c.OneHotFeatures = min(max(c.OneHotFeatures, 0), c.CatFeatures)
	c.Ctrs = max(c.Ctrs, 0)
	c.OneHotValues = max(c.OneHotValues, 1)
	if c.CatFeatures == 0 {
		c.Ctrs = 0
	}
	if len(c.CtrTypes) == 0 {
		c.CtrTypes = []CtrType{CtrBorders, CtrBuckets, CtrBinarizedTargetMeanValue, CtrFloatTargetMeanValue, CtrCounter, CtrFeatureFreq}
	}
	c.MaxProjection = max(c.MaxProjection, 1)
	c.CtrBorders = max(c.CtrBorders, 1)
	if c.MaxTableEntries <= 0 {
		c.MaxTableEntries = def.MaxTableEntries
	}
	c.TargetClasses = max(c.TargetClasses, 2)
	if c.Loss == "" {
		c.Loss = "Logloss"
		if c.Dimension > 1 {
			c.Loss = "MultiClass"
		}
	}
	return c
}

type generator struct {
	rng   *rand.Rand
	cfg   RandomConfig
	d     *Definition
	cards []int // cardinality per categorical feature
}

func (g *generator) features() {
	c, rng := g.cfg, g.rng
	kinds := make([]bool, c.FloatFeatures+c.CatFeatures) // true = categorical
	for i := c.FloatFeatures; i < len(kinds); i++ {
		kinds[i] = true
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	for flat, cat := range kinds {
		if cat {
			i := len(g.d.CatFeatures)
			g.d.CatFeatures = append(g.d.CatFeatures, CatFeature{Index: i, FlatIndex: flat, Name: nameAt(c.CatNames, i), Used: true})
			card := c.Categories
			if i < len(c.Cardinalities) && c.Cardinalities[i] > 0 {
				card = c.Cardinalities[i]
			}
			g.cards = append(g.cards, card)
			continue
		}
		i := len(g.d.FloatFeatures)
		f := FloatFeature{Index: i, FlatIndex: flat, Name: nameAt(c.FloatNames, i)}
		if !c.UnusedFeatures || rng.IntN(5) != 0 {
			f.Borders = g.borders(1 + rng.IntN(c.BordersPerFeature))
		}
		if c.NaNs && rng.IntN(2) == 0 {
			f.HasNans = true
			f.NanTreatment = NanTreatment(rng.IntN(3))
		}
		g.d.FloatFeatures = append(g.d.FloatFeatures, f)
	}
}

func nameAt(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return ""
}

// borders returns n sorted unique float32 borders on a random scale, with
// occasional exact small integers and values around zero.
func (g *generator) borders(n int) []float32 {
	scale := math.Pow(10, float64(g.rng.IntN(9)-3))
	center := (g.rng.Float64()*2 - 1) * scale
	set := make(map[float32]bool, n)
	for len(set) < n {
		var b float32
		switch g.rng.IntN(8) {
		case 0:
			b = float32(g.rng.IntN(2*n+1) - n)
		case 1:
			b = float32(g.rng.NormFloat64() * 1e-3)
		default:
			b = float32(center + g.rng.NormFloat64()*scale)
		}
		if b == 0 {
			b = 0 // fold -0 into +0: they are the same border
		}
		set[b] = true
	}
	out := make([]float32, 0, n)
	for b := range set {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

func (g *generator) oneHots() {
	for j := 0; j < g.cfg.OneHotFeatures; j++ {
		n := min(1+g.rng.IntN(g.cfg.OneHotValues), g.cards[j])
		ks := g.rng.Perm(g.cards[j])[:n]
		oh := OneHotFeature{CatIndex: j}
		for _, k := range ks {
			s := randomCategory(k)
			oh.Values = append(oh.Values, int32(CatHash(s)))
			oh.StringValues = append(oh.StringValues, s)
		}
		g.d.OneHotFeatures = append(g.d.OneHotFeatures, oh)
	}
}

// ctrs makes cfg.Ctrs distinct CTR bases, a table of random counters for each
// and one or two CTR features per base.
func (g *generator) ctrs() {
	seen := map[string]bool{}
	for tries := 0; len(g.d.CtrTables) < g.cfg.Ctrs && tries < 20*g.cfg.Ctrs; tries++ {
		base := CtrBase{Projection: g.projection(), Type: g.cfg.CtrTypes[g.rng.IntN(len(g.cfg.CtrTypes))]}
		key := fmt.Sprint(base.Projection, base.Type)
		if seen[key] {
			continue
		}
		seen[key] = true
		table := g.table(base)
		g.d.CtrTables = append(g.d.CtrTables, table)
		for n := 1 + g.rng.IntN(2); n > 0; n-- {
			g.d.Ctrs = append(g.d.Ctrs, g.ctr(base, &table))
		}
	}
}

func (g *generator) projection() Projection {
	var p Projection
	n := 1 + g.rng.IntN(min(g.cfg.MaxProjection, len(g.d.CatFeatures)))
	p.CatFeatures = g.rng.Perm(len(g.d.CatFeatures))[:n]
	slices.Sort(p.CatFeatures)
	if !g.cfg.ProjectionSplits || g.rng.IntN(3) != 0 {
		return p
	}
	var used []int
	for _, f := range g.d.FloatFeatures {
		if len(f.Borders) > 0 {
			used = append(used, f.Index)
		}
	}
	if len(used) > 0 && g.rng.IntN(3) != 0 {
		f := g.d.FloatFeatures[used[g.rng.IntN(len(used))]]
		p.FloatSplits = append(p.FloatSplits, FloatSplit{FloatIndex: f.Index, Border: f.Borders[g.rng.IntN(len(f.Borders))]})
	}
	if len(g.d.OneHotFeatures) > 0 && g.rng.IntN(2) == 0 {
		oh := g.d.OneHotFeatures[g.rng.IntN(len(g.d.OneHotFeatures))]
		p.OneHotSplits = append(p.OneHotSplits, OneHotSplit{CatIndex: oh.CatIndex, Value: oh.Values[g.rng.IntN(len(oh.Values))]})
	}
	return p
}

// table fills a CTR table with the projection hashes of random training
// combinations: every category of a single-feature projection (but a few),
// sampled combinations otherwise.
func (g *generator) table(base CtrBase) CtrTable {
	p := base.Projection
	t := CtrTable{Base: base, Index: map[uint64]uint32{}}
	add := func(h uint64) {
		if _, ok := t.Index[h]; !ok && h != emptyHashKey {
			t.Index[h] = uint32(len(t.Index))
		}
	}
	nsplits := len(p.FloatSplits) + len(p.OneHotSplits)
	if len(p.CatFeatures) == 1 && nsplits == 0 {
		for k := 0; k < g.cards[p.CatFeatures[0]]; k++ {
			if g.rng.IntN(20) != 0 {
				add(mixHash(0, catHashKey(CatHash(randomCategory(k)))))
			}
		}
	} else {
		for tries := 0; tries < g.cfg.MaxTableEntries; tries++ {
			var h uint64
			for _, j := range p.CatFeatures {
				h = mixHash(h, catHashKey(CatHash(randomCategory(g.rng.IntN(g.cards[j])))))
			}
			for range nsplits {
				h = mixHash(h, uint64(g.rng.IntN(2)))
			}
			add(h)
		}
	}
	n := len(t.Index)
	switch base.Type {
	case CtrBorders, CtrBuckets:
		t.TargetClassesCount = g.cfg.TargetClasses
		t.Counters = make([]int32, n*t.TargetClassesCount)
		for i := range t.Counters {
			t.Counters[i] = int32(g.rng.IntN(3) * g.rng.IntN(40))
		}
	case CtrBinarizedTargetMeanValue, CtrFloatTargetMeanValue:
		t.Means = make([]MeanHistory, n)
		for i := range t.Means {
			count := 1 + g.rng.IntN(60)
			sum := float32(g.rng.Float64() * float64(count))
			if base.Type == CtrFloatTargetMeanValue {
				sum = float32(g.rng.NormFloat64() * 10 * float64(count))
			}
			t.Means[i] = MeanHistory{Sum: sum, Count: int32(count)}
		}
	default: // Counter, FeatureFreq
		t.Counters = make([]int32, n)
		var total int32
		for i := range t.Counters {
			t.Counters[i] = int32(1 + g.rng.IntN(200))
			total = max(total, t.Counters[i])
		}
		t.CounterDenominator = total + int32(g.rng.IntN(10))
	}
	return t
}

// ctr makes a CTR feature over base with random priors and borders drawn from
// its own values (some borders equal a value exactly, testing strict `>`).
func (g *generator) ctr(base CtrBase, t *CtrTable) Ctr {
	priors := [][2]float32{{0, 1}, {0.5, 1}, {1, 1}, {0, 2}, {0.25, 0.5}}
	pr := priors[g.rng.IntN(len(priors))]
	c := Ctr{Base: base, PriorNum: pr[0], PriorDenom: pr[1], Shift: 0, Scale: 1}
	if g.rng.IntN(2) == 0 {
		c.Shift = -float32(g.rng.IntN(3)) / 4
		c.Scale = float32(1 + g.rng.IntN(15))
	}
	switch {
	case base.Type == CtrBuckets:
		c.TargetBorderIdx = g.rng.IntN(t.TargetClassesCount)
	case base.Type == CtrBorders && t.TargetClassesCount > 2:
		c.TargetBorderIdx = g.rng.IntN(t.TargetClassesCount - 1)
	}
	values := []float32{c.value(t, 0, false)}
	for i := range len(t.Index) {
		values = append(values, c.value(t, uint32(i), true))
	}
	slices.Sort(values)
	values = slices.Compact(values)
	set := map[float32]bool{}
	for n := 1 + g.rng.IntN(g.cfg.CtrBorders); n > 0; n-- {
		i := g.rng.IntN(len(values))
		b := values[i]
		if i+1 < len(values) && g.rng.IntN(2) == 0 {
			b = (b + values[i+1]) / 2
		}
		if b == 0 {
			b = 0
		}
		set[b] = true
	}
	for b := range set {
		c.Borders = append(c.Borders, b)
	}
	slices.Sort(c.Borders)
	return c
}

// splits builds the bin-feature list in the order of spec §5.4.
func (g *generator) splits() {
	d := g.d
	for _, f := range d.FloatFeatures {
		for _, b := range f.Borders {
			d.Splits = append(d.Splits, Split{Kind: SplitFloat, Feature: f.Index, Border: b})
		}
	}
	for _, oh := range d.OneHotFeatures {
		for _, v := range oh.Values {
			d.Splits = append(d.Splits, Split{Kind: SplitOneHot, Feature: oh.CatIndex, Value: v})
		}
	}
	for i, c := range d.Ctrs {
		for _, b := range c.Borders {
			d.Splits = append(d.Splits, Split{Kind: SplitCtr, Feature: i, Border: b})
		}
	}
}

// pickSplit chooses a split kind uniformly among the kinds present, then a
// split of that kind, so CTR and one-hot splits are not drowned by borders.
func (g *generator) pickSplit() int {
	var byKind [4][]int
	for i, s := range g.d.Splits {
		byKind[s.Kind] = append(byKind[s.Kind], i)
	}
	var kinds [][]int
	for _, k := range byKind {
		if len(k) > 0 {
			kinds = append(kinds, k)
		}
	}
	k := kinds[g.rng.IntN(len(kinds))]
	return k[g.rng.IntN(len(k))]
}

func (g *generator) trees() {
	d, c := g.d, g.cfg
	d.ApproxDimension = c.Dimension
	d.Scale = 1
	d.Bias = make([]float64, c.Dimension)
	if c.ScaleAndBias {
		d.Scale = 0.5 + g.rng.Float64()
		for k := range d.Bias {
			d.Bias[k] = g.rng.NormFloat64()
		}
	}
	if len(d.Splits) == 0 {
		// Nothing to split on: a model of constant trees is still valid.
		d.FloatFeatures[0].Borders = []float32{0}
		d.Splits = []Split{{Kind: SplitFloat, Feature: 0}}
	}
	for range c.Trees {
		if c.Symmetric {
			depth := c.Depth
			t := ObliviousTree{Splits: make([]int, depth), LeafValues: g.leaves(1 << depth), LeafWeights: make([]float64, 1<<depth)}
			for i := range t.Splits {
				t.Splits[i] = g.pickSplit()
			}
			for i := range t.LeafWeights {
				t.LeafWeights[i] = float64(g.rng.IntN(100))
			}
			d.Oblivious = append(d.Oblivious, t)
			continue
		}
		var t Tree
		g.node(&t, 0)
		t.LeafWeights = make([]float64, len(t.LeafValues)/c.Dimension)
		d.Trees = append(d.Trees, t)
	}
}

func (g *generator) leaves(n int) []float64 {
	v := make([]float64, n*g.cfg.Dimension)
	for i := range v {
		v[i] = g.rng.NormFloat64() * 0.1
	}
	return v
}

// node appends a random subtree in preorder (children after their parent,
// left before right) and returns its size. Leaf values are allocated in node
// order, as CatBoost stores them.
func (g *generator) node(t *Tree, depth int) int {
	at := len(t.Nodes)
	t.Nodes = append(t.Nodes, Node{LeafOffset: NoLeaf})
	hasLeft, hasRight := g.rng.IntN(8) != 0, g.rng.IntN(8) != 0
	if depth == g.cfg.Depth || g.rng.IntN(6) == 0 || (!hasLeft && !hasRight) {
		t.Nodes[at] = Node{LeafOffset: g.leaf(t)}
		return 1
	}
	t.Nodes[at].Split = g.pickSplit()
	if !hasLeft || !hasRight {
		t.Nodes[at].LeafOffset = g.leaf(t)
	}
	size := 1
	if hasLeft {
		t.Nodes[at].Left = uint16(size)
		size += g.node(t, depth+1)
	}
	if hasRight {
		t.Nodes[at].Right = uint16(size)
		size += g.node(t, depth+1)
	}
	return size
}

func (g *generator) leaf(t *Tree) uint32 {
	off := uint32(len(t.LeafValues))
	t.LeafValues = append(t.LeafValues, g.leaves(1)...)
	return off
}

func (g *generator) info() {
	params := map[string]any{"loss_function": map[string]any{"type": g.cfg.Loss, "params": map[string]any{}}}
	p, _ := json.Marshal(params) // a map of plain values always marshals
	cards := make([]string, len(g.cards))
	for i, c := range g.cards {
		cards[i] = strconv.Itoa(c)
	}
	g.d.Info = map[string]string{
		"params":          string(p),
		infoCardinalities: strings.Join(cards, ","),
	}
}

// RandomBatch returns rows random input rows for d: floats around and exactly
// on the borders, with NaN and ±Inf now and then; categories drawn mostly from
// the values seen in training (the ones Random put into the tables and one-hot
// features) and about one in ten unseen.
func RandomBatch(rng *rand.Rand, d *Definition, rows int) *model.Batch {
	nf, nc := 0, 0
	for _, f := range d.FloatFeatures {
		nf = max(nf, f.Index+1)
	}
	for _, c := range d.CatFeatures {
		nc = max(nc, c.Index+1)
	}
	cards := randomCardinalities(d, nc)
	b := &model.Batch{Rows: rows, NumFloat: nf, NumCat: nc, Floats: make([]float64, rows*nf), Cats: make([]string, rows*nc)}
	for r := range rows {
		for _, f := range d.FloatFeatures {
			b.Floats[r*nf+f.Index] = randomFloat(rng, f.Borders)
		}
		for j := range nc {
			k := rng.IntN(cards[j])
			if rng.IntN(10) == 0 {
				k += cards[j] // unseen
			}
			b.Cats[r*nc+j] = randomCategory(k)
		}
	}
	return b
}

// randomCardinalities reads the cardinalities Random recorded, falling back
// to 100 categories per feature for other models.
func randomCardinalities(d *Definition, nc int) []int {
	cards := make([]int, nc)
	for i := range cards {
		cards[i] = 100
	}
	for i, s := range strings.Split(d.Info[infoCardinalities], ",") {
		if n, err := strconv.Atoi(s); err == nil && n > 0 && i < nc {
			cards[i] = n
		}
	}
	return cards
}

func randomFloat(rng *rand.Rand, borders []float32) float64 {
	switch rng.IntN(20) {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1 - 2*rng.IntN(2))
	case 2, 3:
		if len(borders) > 0 {
			return float64(borders[rng.IntN(len(borders))]) // exactly on a border
		}
	}
	if len(borders) == 0 {
		return rng.NormFloat64()
	}
	lo, hi := float64(borders[0]), float64(borders[len(borders)-1])
	span := cmp.Or(hi-lo, 1)
	return lo - span/10 + rng.Float64()*span*1.2
}
