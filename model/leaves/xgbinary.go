package leaves

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/dmitryikh/leaves"

	"github.com/loan-scorer/loan-scorer/model"
)

// Sizes of the fixed structs of XGBoost's old binary format
// (leaves/internal/xgbin mirrors them).
const (
	xgLearnerParamSize = 4 + 4 + 4 + 4 + 4 + 29*4 // LearnerModelParam
	xgGBTreeParamSize  = 4*4 + 8 + 4 + 4 + 32*4   // GBTreeModelParam
	xgTreeParamSize    = 6*4 + 31*4               // TreeParam
	xgNodeSize         = 5 * 4                    // Node
	xgStatSize         = 4 * 4                    // RTreeNodeStat
	xgMaxNameLen       = 256
)

// xgBinaryHeader is the start of an XGBoost binary model.
type xgBinaryHeader struct {
	numFeature uint32
	numClass   int32
	major      uint32 // 0 before XGBoost 1.0
	objective  string
	booster    string
	rest       []byte // after the booster name
	binf       bool   // the file starts with XGBoost ≥ 1.0's "binf" marker
}

// readXGBinaryHeader parses the learner header; ok is false when data does
// not look like an XGBoost binary model at all.
func readXGBinaryHeader(data []byte) (h xgBinaryHeader, ok bool) {
	if bytes.HasPrefix(data, []byte("binf")) {
		h.binf = true
		data = data[4:]
	}
	if len(data) < xgLearnerParamSize {
		return h, false
	}
	le := binary.LittleEndian
	h.numFeature = le.Uint32(data[4:])
	h.numClass = int32(le.Uint32(data[8:]))
	h.major = le.Uint32(data[20:])
	rest := data[xgLearnerParamSize:]
	var okObj, okGbm bool
	h.objective, rest, okObj = xgString(rest)
	h.booster, rest, okGbm = xgString(rest)
	if !okObj || !okGbm || !plausibleObjective(h.objective) {
		return h, false
	}
	switch h.booster {
	case "gbtree", "dart", "gblinear":
	default:
		return h, false
	}
	h.rest = rest
	return h, true
}

// xgString reads a dmlc string: a uint64 length and the bytes.
func xgString(b []byte) (string, []byte, bool) {
	if len(b) < 8 {
		return "", b, false
	}
	n := binary.LittleEndian.Uint64(b)
	if n > xgMaxNameLen || n > uint64(len(b)-8) {
		return "", b, false
	}
	return string(b[8 : 8+n]), b[8+n:], true
}

// plausibleObjective reports whether s looks like an XGBoost objective name
// ("binary:logistic", "reg:linear", ...).
func plausibleObjective(s string) bool {
	colon := false
	for _, c := range []byte(s) {
		switch {
		case c == ':':
			colon = true
		case c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return colon
}

// IsXGBoostBinary reports whether data looks like an XGBoost model in its
// binary format, of any version (LoadXGBoostBinary refuses the new ones).
func IsXGBoostBinary(data []byte) bool {
	_, ok := readXGBinaryHeader(data)
	return ok
}

// LoadXGBoostBinary validates an XGBoost binary model written by XGBoost 0.90
// or older (gbtree or dart) and loads it through leaves. Files written by
// XGBoost 1.0 or later are refused with ErrXGBoostBinaryTooNew before leaves
// sees them: leaves misreads them and can exhaust memory doing so.
func LoadXGBoostBinary(data []byte) (*Model, error) {
	h, ok := readXGBinaryHeader(data)
	if !ok {
		return nil, fmt.Errorf("%w: not an XGBoost binary model", ErrFormat)
	}
	if h.binf || h.major != 0 {
		return nil, ErrXGBoostBinaryTooNew
	}
	if h.booster == "gblinear" {
		return nil, fmt.Errorf("%w: gblinear booster", ErrUnsupported)
	}
	obj, err := xgObjective(h.objective)
	if err != nil {
		return nil, err
	}
	if h.numFeature == 0 || h.numFeature > maxFeatures {
		return nil, fmt.Errorf("%w: %d features", ErrFormat, h.numFeature)
	}
	shape, groups, err := validateXGTrees(h)
	if err != nil {
		return nil, err
	}
	ens, err := callLeaves(func() (*leaves.Ensemble, error) {
		return leaves.XGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), false)
	})
	if err != nil {
		return nil, err
	}
	if ens.NRawOutputGroups() != groups {
		return nil, fmt.Errorf("%w: leaves read %d output groups, the file has %d", ErrFormat, ens.NRawOutputGroups(), groups)
	}
	m, err := newModel(ens, positionalNames(int(h.numFeature)), shape.used, obj)
	if err != nil {
		return nil, err
	}
	m.format = "XGBoost binary (≤ 0.90)"
	m.strictLess = true
	for f, used := range shape.used {
		if used {
			m.usedFeatures = append(m.usedFeatures, f)
		}
	}
	m.depths = shape.depths
	m.thresholds = shape.thresholds
	return m, nil
}

// xgObjective maps an XGBoost objective to how margins become predictions.
func xgObjective(name string) (objective, error) {
	o := objective{name: name, sigmoid: 1}
	switch name {
	case "binary:logistic", "binary:logitraw", "reg:logistic":
		o.task = model.BinaryClassification
	case "multi:softprob", "multi:softmax":
		o.task = model.MultiClassification
	case "reg:linear", "reg:squarederror", "rank:pairwise", "rank:ndcg", "rank:map":
		o.task = model.Regression
	case "count:poisson", "reg:gamma", "reg:tweedie":
		o.task, o.exp = model.Regression, true
	default:
		return o, fmt.Errorf("%w: XGBoost objective %q", ErrUnsupported, name)
	}
	return o, nil
}

// xgReader walks the binary format with bounds checks.
type xgReader struct {
	b   []byte
	err error
}

func (r *xgReader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: truncated XGBoost binary model", ErrFormat)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *xgReader) u64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// validateXGTrees walks the gbtree part of an old binary model the way
// leaves' reader will, checking every count against the bytes present and
// every tree's shape. It returns the shape and the number of output groups.
func validateXGTrees(h xgBinaryHeader) (lgShape, int, error) {
	le := binary.LittleEndian
	shape := lgShape{used: make([]bool, h.numFeature), thresholds: make([][]float64, h.numFeature)}
	r := &xgReader{b: h.rest}
	param := r.take(xgGBTreeParamSize)
	if r.err != nil {
		return shape, 0, r.err
	}
	numTrees := int32(le.Uint32(param[0:]))
	numRoots := int32(le.Uint32(param[4:]))
	numFeature := int32(le.Uint32(param[8:]))
	groups := int32(le.Uint32(param[24:]))
	switch {
	case numTrees <= 0:
		return shape, 0, fmt.Errorf("%w: %d trees", ErrFormat, numTrees)
	case numRoots != 1:
		return shape, 0, fmt.Errorf("%w: %d roots per tree", ErrUnsupported, numRoots)
	case numFeature < 0 || uint32(numFeature) > h.numFeature:
		return shape, 0, fmt.Errorf("%w: trees use %d features of %d", ErrFormat, numFeature, h.numFeature)
	case groups < 1 || groups > maxClasses || numTrees%groups != 0:
		return shape, 0, fmt.Errorf("%w: %d trees in %d output groups", ErrFormat, numTrees, groups)
	}
	for t := int32(0); t < numTrees; t++ {
		tp := r.take(xgTreeParamSize)
		if r.err != nil {
			return shape, 0, r.err
		}
		roots := int32(le.Uint32(tp[0:]))
		numNodes := int32(le.Uint32(tp[4:]))
		treeFeatures := int32(le.Uint32(tp[16:]))
		leafVector := int32(le.Uint32(tp[20:]))
		if roots != 1 || numNodes <= 0 || treeFeatures < 0 || uint32(treeFeatures) > h.numFeature {
			return shape, 0, fmt.Errorf("%w: tree %d: %d roots, %d nodes, %d features", ErrFormat, t, roots, numNodes, treeFeatures)
		}
		nodes := r.take(uint64(numNodes) * xgNodeSize)
		r.take(uint64(numNodes) * xgStatSize)
		if leafVector > 0 {
			n := r.u64()
			if n > math.MaxUint32 {
				return shape, 0, fmt.Errorf("%w: tree %d: leaf vector of %d", ErrFormat, t, n)
			}
			r.take(n * 4)
		}
		if r.err != nil {
			return shape, 0, fmt.Errorf("tree %d: %w", t, r.err)
		}
		depth, err := xgTreeShape(nodes, int(numNodes), h.numFeature, &shape)
		if err != nil {
			return shape, 0, fmt.Errorf("tree %d: %w", t, err)
		}
		shape.depths = append(shape.depths, depth)
	}
	info := r.take(uint64(numTrees) * 4)
	if r.err != nil {
		return shape, 0, r.err
	}
	for t := int32(0); t < numTrees; t++ {
		if g := int32(le.Uint32(info[4*t:])); g != t%groups {
			return shape, 0, fmt.Errorf("%w: tree %d belongs to group %d, want %d", ErrUnsupported, t, g, t%groups)
		}
	}
	if h.booster == "dart" {
		n := r.u64()
		if r.err != nil || n != uint64(numTrees) {
			return shape, 0, fmt.Errorf("%w: dart model with %d weights for %d trees", ErrFormat, n, numTrees)
		}
		r.take(n * 4)
		if r.err != nil {
			return shape, 0, r.err
		}
	}
	for f := range shape.thresholds {
		slices.Sort(shape.thresholds[f])
		shape.thresholds[f] = slices.Compact(shape.thresholds[f])
	}
	return shape, int(groups), nil
}

// xgTreeShape checks that the nodes reachable from node 0 form a tree with
// split features in range, and returns its depth.
func xgTreeShape(nodes []byte, n int, numFeature uint32, shape *lgShape) (int, error) {
	le := binary.LittleEndian
	at := func(i int32) (left, right int32, feature uint32, cond float32) {
		b := nodes[int(i)*xgNodeSize:]
		return int32(le.Uint32(b[4:])), int32(le.Uint32(b[8:])), le.Uint32(b[12:]) & (1<<31 - 1), math.Float32frombits(le.Uint32(b[16:]))
	}
	seen := make([]bool, n)
	type item struct {
		node  int32
		depth int
	}
	stack := []item{{0, 0}}
	seen[0] = true
	depth := 0
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		left, right, feature, cond := at(it.node)
		depth = max(depth, it.depth)
		if left == -1 {
			continue
		}
		if feature >= numFeature {
			return 0, fmt.Errorf("%w: node %d splits on feature %d of %d", ErrFormat, it.node, feature, numFeature)
		}
		shape.used[feature] = true
		shape.thresholds[feature] = append(shape.thresholds[feature], float64(cond))
		for _, c := range [2]int32{left, right} {
			if c < 0 || int(c) >= n || seen[c] {
				return 0, fmt.Errorf("%w: node %d has child %d (of %d nodes, or reached twice)", ErrFormat, it.node, c, n)
			}
			seen[c] = true
			stack = append(stack, item{c, it.depth + 1})
		}
	}
	return depth, nil
}
