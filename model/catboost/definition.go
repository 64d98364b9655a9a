package catboost

// This file holds the decoded content of a CatBoost model: what the JSON and
// .cbm loaders produce, what the JSON writer and the random model generator
// consume, and what Compile turns into an evaluator. Field meanings follow
// ../shared/docs/catboost-spec.md; section numbers below point there.

// NanTreatment is a float feature's NaN rule (spec §2), applied only when
// HasNans is true.
type NanTreatment uint8

const (
	// NanAsIs compares NaN as is: every split on it is false.
	NanAsIs NanTreatment = iota
	// NanAsFalse replaces NaN by -Inf: every split false.
	NanAsFalse
	// NanAsTrue replaces NaN by +Inf: every split true.
	NanAsTrue
)

// CtrType is the kind of a CTR feature (spec §3.5). The values are the .cbm
// enum values.
type CtrType uint8

// The CTR types, in .cbm enum order; String gives CatBoost's names.
const (
	CtrBorders CtrType = iota
	CtrBuckets
	CtrBinarizedTargetMeanValue
	CtrFloatTargetMeanValue
	CtrCounter
	CtrFeatureFreq
)

// FloatFeature is one numeric input (spec §1.1, §2).
type FloatFeature struct {
	Index        int // position among float features
	FlatIndex    int // column in the full row
	Name         string
	Borders      []float32 // sorted ascending; empty = unused
	HasNans      bool
	NanTreatment NanTreatment
}

// CatFeature is one categorical input (spec §3.6).
type CatFeature struct {
	Index     int // position among categorical features
	FlatIndex int
	Name      string
	Used      bool
}

// OneHotFeature lists the category hashes a one-hot feature splits on (§3.2).
type OneHotFeature struct {
	CatIndex     int     // CatFeature.Index
	Values       []int32 // int32(CalcCatFeatureHash(category))
	StringValues []string
}

// FloatSplit is a float condition inside a CTR projection: value > Border.
type FloatSplit struct {
	FloatIndex int
	Border     float32
}

// OneHotSplit is a one-hot condition inside a CTR projection: hash == Value.
type OneHotSplit struct {
	CatIndex int
	Value    int32
}

// Projection is the feature combination a CTR is computed over (§3.4), in
// stored order: categorical features, then float splits, then one-hot splits.
type Projection struct {
	CatFeatures  []int // CatFeature.Index values
	FloatSplits  []FloatSplit
	OneHotSplits []OneHotSplit
}

// CtrBase identifies a CTR table: CatBoost compares bases by projection and
// type only (§5.0 item 3). TargetBorderClassifierIdx is kept for writing.
type CtrBase struct {
	Projection                Projection
	Type                      CtrType
	TargetBorderClassifierIdx int
}

// Ctr is one CTR feature with the borders its splits use (§3.3).
type Ctr struct {
	Base            CtrBase
	TargetBorderIdx int
	PriorNum        float32
	PriorDenom      float32
	Shift           float32
	Scale           float32
	Borders         []float32
}

// MeanHistory is a mean-value CTR counter (TCtrMeanHistory).
type MeanHistory struct {
	Sum   float32
	Count int32
}

// CtrTable holds the learned counters of one CTR base (§3.5, §5.3). Index
// maps a projection hash to a counter index; the counters live in Counters
// (Borders, Buckets: TargetClassesCount ints per index; Counter, FeatureFreq:
// one int per index) or Means (mean-value types).
type CtrTable struct {
	Base               CtrBase
	Index              map[uint64]uint32
	Counters           []int32
	Means              []MeanHistory
	CounterDenominator int32
	TargetClassesCount int
}

// SplitKind tells what a bin feature (a split of a tree) tests (§5.4).
type SplitKind uint8

const (
	SplitFloat  SplitKind = iota + 1 // float value > Border
	SplitOneHot                      // category hash == Value
	SplitCtr                         // CTR value > Border
)

// Split is one entry of the bin-feature list (§5.4): trees refer to splits by
// their position in Definition.Splits.
type Split struct {
	Kind    SplitKind
	Feature int     // FloatFeature.Index, CatFeature.Index, or index into Definition.Ctrs
	Border  float32 // SplitFloat, SplitCtr
	Value   int32   // SplitOneHot
}

// ObliviousTree is a symmetric tree: split d sets bit d of the leaf index.
type ObliviousTree struct {
	Splits      []int     // indexes into Definition.Splits, depth entries
	LeafValues  []float64 // 2^depth × ApproxDimension, leaf-major
	LeafWeights []float64 // optional, 2^depth
}

// Node is a node of a non-symmetric tree (§5.5). A zero Left or Right
// difference means there is no child on that side: evaluation stops at this
// node and takes its own leaf value.
type Node struct {
	Split      int    // index into Definition.Splits; meaningless for pure leaves
	Left       uint16 // offset to the child taken when the split is false
	Right      uint16 // offset to the child taken when the split is true
	LeafOffset uint32 // offset into Tree.LeafValues (multiple of dimension); NoLeaf if never a leaf
}

// NoLeaf marks a node that always has a child to go to.
const NoLeaf = ^uint32(0)

// Tree is a non-symmetric tree; Nodes[0] is the root.
type Tree struct {
	Nodes       []Node
	LeafValues  []float64
	LeafWeights []float64
}

// Definition is a whole decoded CatBoost model. Exactly one of Oblivious and
// Trees is non-empty.
type Definition struct {
	FloatFeatures  []FloatFeature
	CatFeatures    []CatFeature
	OneHotFeatures []OneHotFeature
	Ctrs           []Ctr
	CtrTables      []CtrTable
	// Splits is the bin-feature list, in the order of §5.4.
	Splits          []Split
	ApproxDimension int
	Oblivious       []ObliviousTree
	Trees           []Tree
	Scale           float64
	Bias            []float64 // ApproxDimension entries
	// Info is the model's metadata (JSON model_info / .cbm InfoMap); values
	// that are JSON objects are kept as their JSON text.
	Info map[string]string
}
