package xgboost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/loan-scorer/loan-scorer/model"
)

// fileJSON is the part of an XGBoost JSON model the evaluator reads.
type fileJSON struct {
	Learner *struct {
		FeatureNames      []string        `json:"feature_names"`
		FeatureTypes      []string        `json:"feature_types"`
		GradientBooster   json.RawMessage `json:"gradient_booster"`
		LearnerModelParam struct {
			BaseScore  string `json:"base_score"`
			NumClass   string `json:"num_class"`
			NumFeature string `json:"num_feature"`
			NumTarget  string `json:"num_target"`
		} `json:"learner_model_param"`
		Objective struct {
			Name string `json:"name"`
		} `json:"objective"`
	} `json:"learner"`
	Version []int `json:"version"`
}

// boosterJSON is learner.gradient_booster: gbtree keeps its trees in
// "model", dart wraps a gbtree and adds one weight per tree.
type boosterJSON struct {
	Name   string      `json:"name"`
	Model  *gbtreeJSON `json:"model"`
	GBTree *struct {
		Model *gbtreeJSON `json:"model"`
	} `json:"gbtree"`
	WeightDrop []jsonFloat `json:"weight_drop"`
}

type gbtreeJSON struct {
	TreeInfo []int      `json:"tree_info"`
	Trees    []treeJSON `json:"trees"`
}

type treeJSON struct {
	SplitIndices       []int64     `json:"split_indices"`
	SplitConditions    []jsonFloat `json:"split_conditions"`
	LeftChildren       []int64     `json:"left_children"`
	RightChildren      []int64     `json:"right_children"`
	DefaultLeft        []jsonBool  `json:"default_left"`
	SplitType          []int       `json:"split_type"`
	Categories         []int64     `json:"categories"`
	CategoriesNodes    []int64     `json:"categories_nodes"`
	CategoriesSegments []int64     `json:"categories_segments"`
	CategoriesSizes    []int64     `json:"categories_sizes"`
	SumHessian         []jsonFloat `json:"sum_hessian"`
	TreeParam          struct {
		SizeLeafVector string `json:"size_leaf_vector"`
	} `json:"tree_param"`
}

// jsonFloat is a JSON number that may also be null or one of the strings
// "NaN", "Infinity", "-Infinity" (what sanitize makes of XGBoost's bare
// NaN/Infinity tokens).
type jsonFloat float64

// UnmarshalJSON implements json.Unmarshaler.
func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null", `"NaN"`:
		*f = jsonFloat(math.NaN())
		return nil
	case `"Infinity"`:
		*f = jsonFloat(math.Inf(1))
		return nil
	case `"-Infinity"`:
		*f = jsonFloat(math.Inf(-1))
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("number %.40q: %w", b, err)
	}
	*f = jsonFloat(v)
	return nil
}

// jsonBool accepts true/false and the 0/1 integers XGBoost ≥ 1.6 writes for
// default_left.
type jsonBool bool

// UnmarshalJSON implements json.Unmarshaler.
func (v *jsonBool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", "1":
		*v = true
	case "false", "0":
		*v = false
	default:
		return fmt.Errorf("want a boolean, got %.40q", b)
	}
	return nil
}

// maxDepth bounds tree depth; deeper trees are refused as malformed. It keeps
// a hostile file from turning evaluation into a long walk.
const maxDepth = 1 << 12

// maxClasses bounds num_class, which sizes per-row buffers.
const maxClasses = 1 << 16

// maxCategory is XGBoost's bound on category codes (2^24, common::kMaxCat).
const maxCategory = 1 << 24

// Load decodes an XGBoost JSON model and prepares it for evaluation.
func Load(data []byte) (*Model, error) {
	var f fileJSON
	if err := json.Unmarshal(sanitize(data), &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if f.Learner == nil {
		return nil, fmt.Errorf("%w: no \"learner\" object", ErrFormat)
	}
	l := f.Learner
	obj, err := lookupObjective(l.Objective.Name)
	if err != nil {
		return nil, err
	}
	m := &Model{objective: l.Objective.Name, task: obj.task}
	if len(f.Version) > 0 {
		parts := make([]string, len(f.Version))
		for i, v := range f.Version {
			parts[i] = strconv.Itoa(v)
		}
		m.version = strings.Join(parts, ".")
	}

	p := l.LearnerModelParam
	numFeature, err := paramInt("num_feature", p.NumFeature, 0)
	if err != nil {
		return nil, err
	}
	numClass, err := paramInt("num_class", p.NumClass, 0)
	if err != nil {
		return nil, err
	}
	if numTarget, err := paramInt("num_target", p.NumTarget, 1); err != nil {
		return nil, err
	} else if numTarget > 1 {
		return nil, fmt.Errorf("%w: num_target %d (multi-target models)", ErrUnsupported, numTarget)
	}
	m.dim = 1
	if obj.task == model.MultiClassification {
		if numClass < 2 {
			return nil, fmt.Errorf("%w: objective %s with num_class %d", ErrFormat, l.Objective.Name, numClass)
		}
		if numClass > maxClasses {
			return nil, fmt.Errorf("%w: num_class %d", ErrUnsupported, numClass)
		}
		m.dim = numClass
	} else if numClass > 1 {
		return nil, fmt.Errorf("%w: objective %s with num_class %d", ErrFormat, l.Objective.Name, numClass)
	}
	score, err := parseBaseScore(p.BaseScore)
	if err != nil {
		return nil, err
	}
	if m.base, err = obj.baseMargin(score); err != nil {
		return nil, err
	}
	if err := m.buildSchema(numFeature, l.FeatureNames); err != nil {
		return nil, err
	}
	m.categorical = make([]bool, numFeature)
	if len(l.FeatureTypes) == numFeature {
		for i, t := range l.FeatureTypes {
			m.categorical[i] = t == "c"
		}
	}
	if err := m.loadBooster(l.GradientBooster); err != nil {
		return nil, err
	}
	m.thresholds = m.collectThresholds()
	return m, nil
}

// paramInt parses one of learner_model_param's decimal strings; an absent
// value gives def.
func paramInt(name, s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%w: learner_model_param.%s %q", ErrFormat, name, s)
	}
	return v, nil
}

// parseBaseScore reads base_score: "5E-1" (XGBoost 1.x) or "[5E-1]"
// (2.x, a vector of one value per target).
func parseBaseScore(s string) (float32, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
		t = strings.TrimSpace(t[1 : len(t)-1])
		if strings.Contains(t, ",") {
			return 0, fmt.Errorf("%w: base_score %q has more than one value", ErrUnsupported, s)
		}
	}
	if t == "" {
		return 0.5, nil // XGBoost's default
	}
	v, err := strconv.ParseFloat(t, 32)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%w: base_score %q", ErrFormat, s)
	}
	return float32(v), nil
}

// buildSchema names the features: learner.feature_names when present, else
// "0".."n-1".
func (m *Model) buildSchema(numFeature int, names []string) error {
	if len(names) != 0 && len(names) != numFeature {
		return fmt.Errorf("%w: %d feature names for num_feature %d", ErrFormat, len(names), numFeature)
	}
	if numFeature > 1<<20 {
		return fmt.Errorf("%w: num_feature %d", ErrUnsupported, numFeature)
	}
	seen := make(map[string]bool, numFeature)
	features := make([]model.Feature, numFeature)
	for i := range features {
		name := strconv.Itoa(i)
		if len(names) != 0 {
			name = names[i]
		}
		if seen[name] {
			return fmt.Errorf("%w: feature name %q appears twice", ErrFormat, name)
		}
		seen[name] = true
		features[i] = model.Feature{Name: name, Kind: model.Float, FlatIndex: i, Index: i}
	}
	m.schema = model.Schema{Features: features, NumFloat: numFeature}
	return nil
}

// loadBooster reads learner.gradient_booster into m's node arrays.
func (m *Model) loadBooster(raw json.RawMessage) error {
	var b boosterJSON
	if len(raw) == 0 {
		return fmt.Errorf("%w: no gradient_booster", ErrFormat)
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("%w: gradient_booster: %w", ErrFormat, err)
	}
	var gbt *gbtreeJSON
	switch b.Name {
	case "gbtree":
		gbt = b.Model
	case "dart":
		if b.GBTree != nil {
			gbt = b.GBTree.Model
		}
		m.booster = "dart"
	case "gblinear":
		return fmt.Errorf("%w: gblinear booster (only tree boosters are evaluated)", ErrUnsupported)
	default:
		return fmt.Errorf("%w: booster %q", ErrUnsupported, b.Name)
	}
	if m.booster == "" {
		m.booster = "gbtree"
	}
	if gbt == nil {
		return fmt.Errorf("%w: %s booster without a model", ErrFormat, b.Name)
	}
	if len(gbt.TreeInfo) != len(gbt.Trees) {
		return fmt.Errorf("%w: %d trees but %d tree_info entries", ErrFormat, len(gbt.Trees), len(gbt.TreeInfo))
	}
	if b.Name == "dart" && len(b.WeightDrop) != len(gbt.Trees) {
		return fmt.Errorf("%w: dart model with %d trees and %d weights", ErrFormat, len(gbt.Trees), len(b.WeightDrop))
	}
	m.roots = make([]int32, len(gbt.Trees))
	m.groups = make([]int32, len(gbt.Trees))
	m.depths = make([]int, len(gbt.Trees))
	for t := range gbt.Trees {
		g := gbt.TreeInfo[t]
		if g < 0 || g >= m.dim {
			return fmt.Errorf("%w: tree %d: tree_info %d for %d output groups", ErrFormat, t, g, m.dim)
		}
		weight := float32(1)
		if b.Name == "dart" {
			weight = float32(b.WeightDrop[t])
		}
		m.roots[t] = int32(len(m.nodes))
		m.groups[t] = int32(g)
		depth, err := m.addTree(&gbt.Trees[t], weight)
		if err != nil {
			return fmt.Errorf("tree %d: %w", t, err)
		}
		m.depths[t] = depth
	}
	return nil
}

// addTree validates one tree and appends its nodes to m.nodes in depth-first
// order, so every child sits after its parent. It returns the tree's depth.
func (m *Model) addTree(t *treeJSON, weight float32) (int, error) {
	n := len(t.LeftChildren)
	switch {
	case n == 0:
		return 0, fmt.Errorf("%w: tree without nodes", ErrFormat)
	case len(t.RightChildren) != n || len(t.SplitIndices) != n || len(t.SplitConditions) != n || len(t.DefaultLeft) != n:
		return 0, fmt.Errorf("%w: node arrays of different lengths", ErrFormat)
	case len(t.SplitType) != 0 && len(t.SplitType) != n:
		return 0, fmt.Errorf("%w: split_type has %d entries for %d nodes", ErrFormat, len(t.SplitType), n)
	case n > math.MaxInt32/2 || len(m.nodes)+n > math.MaxInt32:
		return 0, fmt.Errorf("%w: too many nodes", ErrUnsupported)
	}
	if s := t.TreeParam.SizeLeafVector; s != "" && s != "0" && s != "1" {
		return 0, fmt.Errorf("%w: vector leaves (size_leaf_vector %s)", ErrUnsupported, s)
	}
	cats, err := nodeCategories(t, n)
	if err != nil {
		return 0, err
	}

	// Each pending entry is an original node id and where to patch its new
	// index into its parent (-1 for the root).
	type pending struct {
		orig, parent int32
		right        bool
		depth        int
	}
	visited := make([]bool, n)
	stack := []pending{{orig: 0, parent: -1}}
	maxD := 0
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if visited[p.orig] {
			return 0, fmt.Errorf("%w: node %d reached twice", ErrFormat, p.orig)
		}
		visited[p.orig] = true
		if p.depth > maxDepth {
			return 0, fmt.Errorf("%w: deeper than %d", ErrUnsupported, maxDepth)
		}
		maxD = max(maxD, p.depth)
		idx := int32(len(m.nodes))
		cover := math.NaN() // no statistics: explanations are refused
		if len(t.SumHessian) == n {
			cover = float64(t.SumHessian[p.orig])
		}
		m.covers = append(m.covers, cover)
		if p.parent >= 0 {
			if p.right {
				m.nodes[p.parent].right = idx
			} else {
				m.nodes[p.parent].left = idx
			}
		}
		left, right := t.LeftChildren[p.orig], t.RightChildren[p.orig]
		if left == -1 {
			if right != -1 {
				return 0, fmt.Errorf("%w: node %d has only a right child", ErrFormat, p.orig)
			}
			m.nodes = append(m.nodes, node{kind: leafNode, value: float32(t.SplitConditions[p.orig]) * weight})
			continue
		}
		if left < 0 || left >= int64(n) || right < 0 || right >= int64(n) {
			return 0, fmt.Errorf("%w: node %d has children %d and %d of %d nodes", ErrFormat, p.orig, left, right, n)
		}
		feature := t.SplitIndices[p.orig]
		if feature < 0 || feature >= int64(m.schema.NumFloat) {
			return 0, fmt.Errorf("%w: node %d splits on feature %d of %d", ErrFormat, p.orig, feature, m.schema.NumFloat)
		}
		m.schema.Features[feature].Used = true
		nd := node{kind: numericNode, feature: int32(feature), value: float32(t.SplitConditions[p.orig])}
		if len(t.SplitType) != 0 && t.SplitType[p.orig] == 1 {
			c, ok := cats[int32(p.orig)]
			if !ok {
				return 0, fmt.Errorf("%w: categorical node %d without categories", ErrFormat, p.orig)
			}
			nd.kind = categoricalNode
			m.categorical[feature] = true
			nd.catStart = uint32(len(m.cats))
			m.cats = append(m.cats, c...)
			nd.catEnd = uint32(len(m.cats))
		} else if len(t.SplitType) != 0 && t.SplitType[p.orig] != 0 {
			return 0, fmt.Errorf("%w: node %d has split_type %d", ErrUnsupported, p.orig, t.SplitType[p.orig])
		} else if math.IsNaN(float64(nd.value)) {
			return 0, fmt.Errorf("%w: node %d has a NaN split condition", ErrFormat, p.orig)
		}
		nd.defaultLeft = bool(t.DefaultLeft[p.orig])
		m.nodes = append(m.nodes, nd)
		// Push right first so the left subtree is laid out first.
		stack = append(stack,
			pending{orig: int32(right), parent: idx, right: true, depth: p.depth + 1},
			pending{orig: int32(left), parent: idx, depth: p.depth + 1})
	}
	return maxD, nil
}

// nodeCategories returns the sorted category codes of each categorical split
// of t, keyed by node id.
func nodeCategories(t *treeJSON, n int) (map[int32][]int32, error) {
	k := len(t.CategoriesNodes)
	if len(t.CategoriesSegments) != k || len(t.CategoriesSizes) != k {
		return nil, fmt.Errorf("%w: categories_nodes, _segments and _sizes differ in length", ErrFormat)
	}
	if k == 0 {
		return nil, nil
	}
	out := make(map[int32][]int32, k)
	for i, nid := range t.CategoriesNodes {
		start, size := t.CategoriesSegments[i], t.CategoriesSizes[i]
		if nid < 0 || nid >= int64(n) || start < 0 || size < 0 || start > int64(len(t.Categories)) || size > int64(len(t.Categories))-start {
			return nil, fmt.Errorf("%w: categories entry %d (node %d, segment %d+%d of %d)", ErrFormat, i, nid, start, size, len(t.Categories))
		}
		codes := make([]int32, size)
		for j, c := range t.Categories[start : start+size] {
			if c < 0 || c >= maxCategory {
				return nil, fmt.Errorf("%w: node %d: category %d out of range", ErrFormat, nid, c)
			}
			codes[j] = int32(c)
		}
		slices.Sort(codes)
		out[int32(nid)] = codes
	}
	return out, nil
}

// collectThresholds gathers each feature's distinct split values, sorted: the
// numerical conditions and, for categorical splits, the category codes.
func (m *Model) collectThresholds() [][]float64 {
	out := make([][]float64, m.schema.NumFloat)
	for i := range m.nodes {
		nd := &m.nodes[i]
		switch nd.kind {
		case numericNode:
			out[nd.feature] = append(out[nd.feature], float64(nd.value))
		case categoricalNode:
			for _, c := range m.cats[nd.catStart:nd.catEnd] {
				out[nd.feature] = append(out[nd.feature], float64(c))
			}
		}
	}
	for i := range out {
		slices.Sort(out[i])
		out[i] = slices.Compact(out[i])
	}
	return out
}

// sanitize rewrites the bare NaN, Infinity and -Infinity tokens XGBoost
// writes (for example as the split condition of categorical nodes) into
// strings that encoding/json accepts. Text inside strings is left alone. It
// returns data itself when there is nothing to rewrite.
func sanitize(data []byte) []byte {
	var out []byte
	copied := 0
	inString, escaped := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		var token string
		switch c {
		case '"':
			inString = true
			continue
		case 'N':
			token = "NaN"
		case 'I':
			token = "Infinity"
		case '-':
			token = "-Infinity"
		default:
			continue
		}
		if !bytes.HasPrefix(data[i:], []byte(token)) {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(data)+64)
		}
		out = append(out, data[copied:i]...)
		out = append(out, '"')
		out = append(out, token...)
		out = append(out, '"')
		i += len(token) - 1
		copied = i + 1
	}
	if out == nil {
		return data
	}
	return append(out, data[copied:]...)
}
