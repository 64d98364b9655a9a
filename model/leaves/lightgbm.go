package leaves

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/dmitryikh/leaves"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/treeshap"
)

// maxFeatures bounds max_feature_idx: it sizes every input row.
const maxFeatures = 1 << 20

// maxClasses bounds num_class: it sizes per-row buffers.
const maxClasses = 1 << 16

// IsLightGBM reports whether data looks like a LightGBM text model: a first
// line "tree" followed by a "version=" header line.
func IsLightGBM(data []byte) bool {
	first, rest, _ := bytes.Cut(data, []byte("\n"))
	if string(bytes.TrimSpace(first)) != "tree" {
		return false
	}
	header, _, _ := bytes.Cut(rest, []byte("\n\n"))
	for _, line := range bytes.Split(header, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("version=")) {
			return true
		}
	}
	return false
}

// lgHeader is what the adapter reads from a LightGBM model's header block.
type lgHeader struct {
	version       string
	numClass      int
	numFeatures   int
	objective     string
	featureNames  []string
	averageOutput bool
	numTrees      int
}

// lgShape is what validation learned about the trees.
type lgShape struct {
	categorical []bool
	leafMin     float64
	leafMax     float64
	depths      []int
	used        []bool
	thresholds  [][]float64
}

// LoadLightGBM validates a LightGBM text model (format v2, v3 or v4) and
// loads it through leaves.
func LoadLightGBM(data []byte) (*Model, error) {
	blocks := lgBlocks(data)
	if len(blocks) == 0 || len(blocks[0]) == 0 || blocks[0][0].key != "tree" {
		return nil, fmt.Errorf("%w: not a LightGBM text model (no \"tree\" first line)", ErrFormat)
	}
	h, err := parseLGHeader(blocks[0])
	if err != nil {
		return nil, err
	}
	obj, err := parseLGObjective(h.objective, h.numClass)
	if err != nil {
		return nil, err
	}
	shape, err := validateLGTrees(blocks[1:], h)
	if err != nil {
		return nil, err
	}
	if h.averageOutput {
		if obj, err = forestObjective(obj, shape); err != nil {
			return nil, err
		}
	}
	if h.version == "v4" {
		// leaves accepts only v2 and v3. A v4 file (LightGBM ≥ 4.0) writes
		// the header and trees with the same fields as v3, and linear
		// trees were refused above; checked against LightGBM 4's own
		// predictions, leaves then scores it exactly. So leaves gets the
		// file with its version line saying v3; the first "version=v4" is
		// the header's (feature names cannot hold '=').
		data = bytes.Replace(data, []byte("version=v4"), []byte("version=v3"), 1)
	}
	ens, err := callLeaves(func() (*leaves.Ensemble, error) {
		return leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), false)
	})
	if err != nil {
		return nil, err
	}
	if ens.NRawOutputGroups() != h.numClass || ens.NEstimators()*h.numClass != h.numTrees {
		return nil, fmt.Errorf("%w: leaves read %d×%d trees, the header says %d classes and %d trees",
			ErrFormat, ens.NEstimators(), ens.NRawOutputGroups(), h.numClass, h.numTrees)
	}
	names := h.featureNames
	if len(names) == 0 {
		names = positionalNames(h.numFeatures)
	}
	m, err := newModel(ens, names, shape.used, obj)
	if err != nil {
		return nil, err
	}
	m.format = "LightGBM text " + h.version
	if m.lgShap, m.lgShapErr = buildLGShap(blocks[1:], h, shape.depths); m.lgShapErr == nil {
		s := m.lgShap
		m.lgPool.New = func() any {
			return &lgScratch{walker: treeshap.NewWalker(s.maxDepth), goYes: make([]bool, s.maxNodes), phi: make([]float64, h.numFeatures)}
		}
	}
	m.categorical = shape.categorical
	m.depths = shape.depths
	m.thresholds = shape.thresholds
	return m, nil
}

// forestObjective adapts obj to a random forest (average_output) model. The
// only golden data (leaves' lg_rf_iris, a binary forest from LightGBM 2.x)
// shows LightGBM's predict() returning the plain average of the leaf values,
// which there are probabilities. So a binary forest whose leaves all lie in
// [0, 1] predicts the average as its probability; plain regression forests
// predict the average; other forests are refused rather than guessed at.
func forestObjective(obj objective, shape lgShape) (objective, error) {
	switch {
	case obj.task == model.BinaryClassification && shape.leafMin >= 0 && shape.leafMax <= 1:
		obj.averageIsProbability = true
		return obj, nil
	case obj.task == model.Regression && !obj.exp:
		return obj, nil
	}
	return obj, fmt.Errorf("%w: random forest (average_output) with objective %q", ErrUnsupported, obj.name)
}

// callLeaves runs a leaves loader, turning a panic inside it into an error:
// validation should make that impossible, and this keeps a gap in it from
// taking the process down.
func callLeaves(load func() (*leaves.Ensemble, error)) (ens *leaves.Ensemble, err error) {
	defer func() {
		if r := recover(); r != nil {
			ens, err = nil, fmt.Errorf("%w: leaves failed reading it: %v", ErrFormat, r)
		}
	}()
	ens, err = load()
	if err != nil {
		return nil, fmt.Errorf("%w: leaves: %w", ErrFormat, err)
	}
	return ens, nil
}

// lgLine is one "key=value" line (or a bare "key").
type lgLine struct{ key, value string }

// lgBlocks splits a LightGBM text model into blank-line separated blocks of
// key=value lines, stopping at "end of trees".
func lgBlocks(data []byte) [][]lgLine {
	var blocks [][]lgLine
	var cur []lgLine
	for _, raw := range bytes.Split(data, []byte("\n")) {
		line := strings.TrimSpace(string(raw))
		if line == "" {
			if cur != nil {
				blocks = append(blocks, cur)
				cur = nil
			}
			continue
		}
		if line == "end of trees" {
			break
		}
		k, v, _ := strings.Cut(line, "=")
		cur = append(cur, lgLine{k, v})
	}
	if cur != nil {
		blocks = append(blocks, cur)
	}
	return blocks
}

// lgParams turns a block into a map; the last of repeated keys wins, as in
// leaves.
func lgParams(block []lgLine) map[string]string {
	p := make(map[string]string, len(block))
	for _, l := range block {
		p[l.key] = l.value
	}
	return p
}

func parseLGHeader(block []lgLine) (lgHeader, error) {
	p := lgParams(block)
	h := lgHeader{version: p["version"], objective: p["objective"]}
	switch h.version {
	case "v2", "v3", "v4":
	default:
		return h, fmt.Errorf("%w: LightGBM model format version %q (want v2, v3 or v4)", ErrUnsupported, h.version)
	}
	var err error
	if h.numClass, err = lgInt(p, "num_class", 1, maxClasses); err != nil {
		return h, err
	}
	perIter, err := lgInt(p, "num_tree_per_iteration", 1, maxClasses)
	if err != nil {
		return h, err
	}
	if perIter != h.numClass {
		return h, fmt.Errorf("%w: num_tree_per_iteration %d differs from num_class %d", ErrUnsupported, perIter, h.numClass)
	}
	maxIdx, err := lgInt(p, "max_feature_idx", 0, maxFeatures-1)
	if err != nil {
		return h, err
	}
	h.numFeatures = maxIdx + 1
	if names, ok := p["feature_names"]; ok {
		h.featureNames = strings.Fields(names)
		if len(h.featureNames) != h.numFeatures {
			return h, fmt.Errorf("%w: %d feature names for max_feature_idx %d", ErrFormat, len(h.featureNames), maxIdx)
		}
		seen := make(map[string]bool, len(h.featureNames))
		for _, n := range h.featureNames {
			if seen[n] {
				return h, fmt.Errorf("%w: feature name %q appears twice", ErrFormat, n)
			}
			seen[n] = true
		}
	}
	_, h.averageOutput = p["average_output"]
	sizes := strings.Fields(p["tree_sizes"])
	h.numTrees = len(sizes)
	if h.numTrees == 0 || h.numTrees%h.numClass != 0 {
		return h, fmt.Errorf("%w: tree_sizes lists %d trees for %d classes", ErrFormat, h.numTrees, h.numClass)
	}
	return h, nil
}

// lgInt reads an integer header field within [lo, hi].
func lgInt(p map[string]string, key string, lo, hi int) (int, error) {
	s, ok := p[key]
	if !ok {
		return 0, fmt.Errorf("%w: no %s", ErrFormat, key)
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%w: %s=%q (want %d..%d)", ErrFormat, key, s, lo, hi)
	}
	return v, nil
}

// validateLGTrees checks every tree block the way leaves will read it, so
// leaves can neither panic nor build a tree its predictor cannot leave.
func validateLGTrees(blocks [][]lgLine, h lgHeader) (lgShape, error) {
	shape := lgShape{
		leafMin: math.Inf(1), leafMax: math.Inf(-1), categorical: make([]bool, h.numFeatures),
		used: make([]bool, h.numFeatures), thresholds: make([][]float64, h.numFeatures),
	}
	var trees [][]lgLine
	for _, b := range blocks {
		if strings.HasPrefix(b[0].key, "Tree") {
			trees = append(trees, b)
		}
	}
	if len(trees) != h.numTrees {
		return shape, fmt.Errorf("%w: %d tree blocks, tree_sizes lists %d", ErrFormat, len(trees), h.numTrees)
	}
	for i, b := range trees {
		depth, err := validateLGTree(lgParams(b), h.numFeatures, &shape)
		if err != nil {
			return shape, fmt.Errorf("tree %d: %w", i, err)
		}
		shape.depths = append(shape.depths, depth)
	}
	for f := range shape.thresholds {
		slices.Sort(shape.thresholds[f])
		shape.thresholds[f] = slices.Compact(shape.thresholds[f])
	}
	return shape, nil
}

func validateLGTree(p map[string]string, numFeatures int, shape *lgShape) (int, error) {
	if p["is_linear"] != "" && p["is_linear"] != "0" {
		return 0, fmt.Errorf("%w: linear tree (leaves ignores the linear models)", ErrUnsupported)
	}
	numLeaves, err := lgInt(p, "num_leaves", 1, math.MaxInt32/2)
	if err != nil {
		return 0, err
	}
	numCat, err := lgInt(p, "num_cat", 0, math.MaxInt32/2)
	if err != nil {
		return 0, err
	}
	leafValues, err := lgFloats(p, "leaf_value", numLeaves)
	if err != nil {
		return 0, err
	}
	for _, v := range leafValues {
		shape.leafMin = min(shape.leafMin, v)
		shape.leafMax = max(shape.leafMax, v)
	}
	if numLeaves == 1 {
		return 0, nil
	}
	n := numLeaves - 1
	features, err := lgInts(p, "split_feature", n, 0, int64(numFeatures-1))
	if err != nil {
		return 0, err
	}
	thresholds, err := lgFloats(p, "threshold", n)
	if err != nil {
		return 0, err
	}
	decisions, err := lgInts(p, "decision_type", n, 0, math.MaxUint32)
	if err != nil {
		return 0, err
	}
	left, err := lgInts(p, "left_child", n, -int64(numLeaves), int64(n-1))
	if err != nil {
		return 0, err
	}
	right, err := lgInts(p, "right_child", n, -int64(numLeaves), int64(n-1))
	if err != nil {
		return 0, err
	}
	var catBounds, catBits []int64
	if numCat > 0 {
		if catBounds, err = lgInts(p, "cat_boundaries", numCat+1, 0, math.MaxUint32); err != nil {
			return 0, err
		}
		if catBits, err = lgInts(p, "cat_threshold", -1, 0, math.MaxUint32); err != nil {
			return 0, err
		}
		if catBounds[0] != 0 || catBounds[numCat] != int64(len(catBits)) {
			return 0, fmt.Errorf("%w: cat_boundaries do not cover cat_threshold", ErrFormat)
		}
		for i := 1; i <= numCat; i++ {
			if catBounds[i] < catBounds[i-1] {
				return 0, fmt.Errorf("%w: cat_boundaries not sorted", ErrFormat)
			}
		}
	}
	for i := range n {
		f := features[i]
		shape.used[f] = true
		dt := decisions[i]
		if (dt>>2)&3 == 3 {
			return 0, fmt.Errorf("%w: node %d: unknown missing type in decision_type %d", ErrFormat, i, dt)
		}
		if dt&1 == 0 {
			if math.IsNaN(thresholds[i]) {
				return 0, fmt.Errorf("%w: node %d: NaN threshold", ErrFormat, i)
			}
			shape.thresholds[f] = append(shape.thresholds[f], thresholds[i])
			continue
		}
		shape.categorical[f] = true
		c := thresholds[i]
		if c != math.Trunc(c) || c < 0 || c >= float64(numCat) {
			return 0, fmt.Errorf("%w: node %d: categorical split %v of %d", ErrFormat, i, c, numCat)
		}
		words := catBits[catBounds[int(c)]:catBounds[int(c)+1]]
		any := false
		for w, word := range words {
			for word != 0 {
				b := bits.TrailingZeros64(uint64(word))
				shape.thresholds[f] = append(shape.thresholds[f], float64(w*32+b))
				word &= word - 1
				any = true
			}
		}
		if !any {
			return 0, fmt.Errorf("%w: node %d: categorical split without categories", ErrFormat, i)
		}
	}
	return lgTreeDepth(left, right, numLeaves)
}

// lgTreeDepth checks that left/right children form one tree rooted at node 0
// (every node and leaf reached exactly once) and returns its depth.
func lgTreeDepth(left, right []int64, numLeaves int) (int, error) {
	n := len(left)
	seenNode := make([]bool, n)
	seenLeaf := make([]bool, numLeaves)
	type item struct{ node, depth int }
	stack := []item{{0, 0}}
	seenNode[0] = true
	depth := 0
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range [2]int64{left[it.node], right[it.node]} {
			if c < 0 {
				leaf := int(^c)
				if seenLeaf[leaf] {
					return 0, fmt.Errorf("%w: leaf %d reached twice", ErrFormat, leaf)
				}
				seenLeaf[leaf] = true
				depth = max(depth, it.depth+1)
				continue
			}
			if seenNode[c] {
				return 0, fmt.Errorf("%w: node %d reached twice", ErrFormat, c)
			}
			seenNode[c] = true
			stack = append(stack, item{int(c), it.depth + 1})
		}
	}
	for i, ok := range seenNode {
		if !ok {
			return 0, fmt.Errorf("%w: node %d unreachable", ErrFormat, i)
		}
	}
	for i, ok := range seenLeaf {
		if !ok {
			return 0, fmt.Errorf("%w: leaf %d unreachable", ErrFormat, i)
		}
	}
	return depth, nil
}

// lgFloats parses a space-separated list of want numbers.
func lgFloats(p map[string]string, key string, want int) ([]float64, error) {
	s, ok := p[key]
	if !ok {
		return nil, fmt.Errorf("%w: no %s", ErrFormat, key)
	}
	fields := strings.Fields(s)
	if len(fields) != want {
		return nil, fmt.Errorf("%w: %s has %d values, want %d", ErrFormat, key, len(fields), want)
	}
	out := make([]float64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %q", ErrFormat, key, f)
		}
		out[i] = v
	}
	return out, nil
}

// lgInts parses a space-separated list of integers within [lo, hi]; want < 0
// accepts any count.
func lgInts(p map[string]string, key string, want int, lo, hi int64) ([]int64, error) {
	s, ok := p[key]
	if !ok {
		return nil, fmt.Errorf("%w: no %s", ErrFormat, key)
	}
	fields := strings.Fields(s)
	if want >= 0 && len(fields) != want {
		return nil, fmt.Errorf("%w: %s has %d values, want %d", ErrFormat, key, len(fields), want)
	}
	out := make([]int64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil || v < lo || v > hi {
			return nil, fmt.Errorf("%w: %s: %q (want %d..%d)", ErrFormat, key, f, lo, hi)
		}
		out[i] = v
	}
	return out, nil
}

// parseLGObjective maps a LightGBM objective line ("binary sigmoid:1",
// "multiclass num_class:5", "poisson", ...) to how raw scores become
// predictions.
func parseLGObjective(s string, numClass int) (objective, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		// A custom objective: LightGBM itself predicts raw scores.
		if numClass > 1 {
			return objective{}, fmt.Errorf("%w: %d-class model without an objective", ErrUnsupported, numClass)
		}
		return objective{task: model.Regression}, nil
	}
	params := make(map[string]string)
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, ":")
		params[k] = v
	}
	o := objective{name: s}
	switch name := fields[0]; name {
	case "binary", "cross_entropy", "xentropy":
		o.task = model.BinaryClassification
		o.sigmoid = 1
		if v, ok := params["sigmoid"]; ok {
			k, err := strconv.ParseFloat(v, 64)
			if err != nil || !(k > 0) || math.IsInf(k, 0) {
				return o, fmt.Errorf("%w: objective %q", ErrFormat, s)
			}
			o.sigmoid = k
		}
	case "multiclass", "softmax":
		if numClass < 2 {
			return o, fmt.Errorf("%w: objective %q with num_class %d", ErrFormat, s, numClass)
		}
		o.task = model.MultiClassification
	case "regression", "regression_l2", "l2", "mean_squared_error", "mse", "l2_root", "root_mean_squared_error", "rmse",
		"regression_l1", "l1", "mean_absolute_error", "mae", "huber", "fair", "quantile", "mape",
		"lambdarank", "rank_xendcg", "xendcg", "xe_ndcg", "xe_ndcg_mart", "xendcg_mart":
		if _, sqrt := params["sqrt"]; sqrt {
			return o, fmt.Errorf("%w: objective %q (reg_sqrt)", ErrUnsupported, s)
		}
		o.task = model.Regression
	case "poisson", "gamma", "tweedie":
		o.task = model.Regression
		o.exp = true
	default:
		return o, fmt.Errorf("%w: LightGBM objective %q", ErrUnsupported, s)
	}
	if o.task != model.MultiClassification && numClass != 1 {
		return o, fmt.Errorf("%w: objective %q with num_class %d", ErrFormat, s, numClass)
	}
	return o, nil
}

// positionalNames returns "0".."n-1".
func positionalNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return names
}
