package catboost

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"

	"github.com/loan-scorer/loan-scorer/model"
)

// ErrBatch marks a Predict call whose batch or output slice does not fit the
// model: wrong row widths, inconsistent slices, out too short.
var ErrBatch = errors.New("batch does not fit the model")

// ErrPredictionType marks a prediction type the model cannot produce (Class
// for a regressor, or an unknown type).
var ErrPredictionType = errors.New("prediction type not supported by the model")

// Model is a compiled CatBoost model. It implements model.Model,
// model.Describer, model.Explainer, model.UnseenReporter and
// model.UnseenPredictor, is safe for concurrent use, and allocates nothing
// per Predict or Explain call in steady state (workspaces come from pools).
type Model struct {
	def    *Definition
	ev     *evaluator
	tr     model.Transform
	schema model.Schema
	output model.Output
	info   model.Info
	pool   sync.Pool

	// unseen lists the categorical features Unseen checks (unseen.go).
	unseen []unseenFeature

	// Explanations are prepared on first use (explain.go).
	shapOnce sync.Once
	shap     *shapPlan
	shapErr  error
	shapPool sync.Pool
}

// Model is used through the service's interfaces.
var (
	_ model.Model           = (*Model)(nil)
	_ model.Describer       = (*Model)(nil)
	_ model.Explainer       = (*Model)(nil)
	_ model.UnseenReporter  = (*Model)(nil)
	_ model.UnseenPredictor = (*Model)(nil)
)

// Load decodes a model in any supported format (Decode) and compiles it.
func Load(data []byte) (*Model, error) {
	d, err := Decode(data)
	if err != nil {
		return nil, err
	}
	return Compile(d)
}

// LoadFile reads and loads the model at path.
func LoadFile(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load catboost model: %w", err)
	}
	m, err := Load(data)
	if err != nil {
		return nil, fmt.Errorf("load catboost model %s: %w", path, err)
	}
	return m, nil
}

// Compile validates d and builds its evaluator. The Model keeps d, which the
// caller must not modify afterwards.
func Compile(d *Definition) (*Model, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("compile catboost model: %w", err)
	}
	ev, err := compileEvaluator(d)
	if err != nil {
		return nil, fmt.Errorf("compile catboost model: %w", err)
	}
	m := &Model{def: d, ev: ev}
	m.pool.New = func() any { return ev.newWorkspace() }
	m.schema = buildSchema(d)
	m.output, m.tr = buildOutput(d)
	m.info = buildInfo(d)
	m.unseen = buildUnseen(d, ev)
	return m, nil
}

// Definition returns the decoded model the Model was compiled from. It is
// shared: the caller must not modify it.
func (m *Model) Definition() *Definition { return m.def }

// Schema returns the model's features in flat order. The caller must not
// modify it.
func (m *Model) Schema() *model.Schema { return &m.schema }

// Output describes the model's output.
func (m *Model) Output() model.Output { return m.output }

// Describe returns the model's producer version, tree shapes and CTR types.
func (m *Model) Describe() model.Info { return m.info }

// Predict scores every row of b with prediction type p into out (b.Rows ×
// Output().Width(p) values, row-major). Errors wrap ErrBatch or
// ErrPredictionType.
func (m *Model) Predict(b *model.Batch, p model.PredictionType, out []float64) error {
	if err := m.checkPredict(b, p, out); err != nil {
		return err
	}
	m.predict(b, p, out, nil)
	return nil
}

// checkPredict checks Predict's arguments.
func (m *Model) checkPredict(b *model.Batch, p model.PredictionType, out []float64) error {
	if err := b.Check(&m.schema); err != nil {
		return fmt.Errorf("catboost predict: %w: %w", ErrBatch, err)
	}
	if !m.tr.Supports(p) {
		return fmt.Errorf("catboost predict %v for a %v model: %w", p, m.output.Task, ErrPredictionType)
	}
	w := m.output.Width(p)
	if len(out) < b.Rows*w {
		return fmt.Errorf("catboost predict: output holds %d values, %d rows of %v need %d: %w",
			len(out), b.Rows, p, b.Rows*w, ErrBatch)
	}
	return nil
}

// predict scores the checked batch b into out and, when unseen is not
// nil, writes its unseen flags too (PredictUnseen).
func (m *Model) predict(b *model.Batch, p model.PredictionType, out []float64, unseen []bool) {
	w := m.output.Width(p)
	ws := m.pool.Get().(*workspace)
	flagging := unseen != nil && len(m.unseen) > 0
	if flagging && len(m.ev.bases) <= maxHitBases {
		ws.hits = ws.hitBuf
	}
	for start := 0; start < b.Rows; start += blockRows {
		n := min(blockRows, b.Rows-start)
		binarized := m.ev.sumBlock(ws, b, start, n)
		m.finish(ws, p, n, out[start*w:(start+n)*w], w)
		if flagging {
			m.unseenBlock(ws, b, start, n, binarized, unseen)
		}
	}
	ws.hits = nil
	m.pool.Put(ws)
}

// finish applies scale, bias and the prediction type to n rows of sums.
func (m *Model) finish(ws *workspace, p model.PredictionType, n int, out []float64, w int) {
	ev := m.ev
	dim := ev.dim
	if dim == 1 && p == model.RawFormulaVal {
		scale, bias := ev.scale, ev.bias[0]
		for r, s := range ws.sums[:n] {
			out[r] = float64(scale*s) + bias // no FMA: spec §4.1
		}
		return
	}
	raw := ws.raw
	for r := range n {
		s := ws.sums[r*dim : r*dim+dim]
		for k := range raw {
			raw[k] = float64(ev.scale*s[k]) + ev.bias[k]
		}
		m.tr.Apply(p, raw, out[r*w:r*w+w])
	}
}

func buildSchema(d *Definition) model.Schema {
	s := model.Schema{}
	for _, f := range d.FloatFeatures {
		s.Features = append(s.Features, model.Feature{
			Name: f.Name, Kind: model.Float, FlatIndex: f.FlatIndex, Index: f.Index, Used: len(f.Borders) > 0,
		})
		s.NumFloat = max(s.NumFloat, f.Index+1)
	}
	for _, c := range d.CatFeatures {
		s.Features = append(s.Features, model.Feature{
			Name: c.Name, Kind: model.Categorical, FlatIndex: c.FlatIndex, Index: c.Index, Used: c.Used,
		})
		s.NumCat = max(s.NumCat, c.Index+1)
	}
	slices.SortFunc(s.Features, func(a, b model.Feature) int { return a.FlatIndex - b.FlatIndex })
	for i := range s.Features {
		if s.Features[i].Name == "" {
			s.Features[i].Name = strconv.Itoa(s.Features[i].FlatIndex)
		}
	}
	return s
}

// lossName returns the training loss the model records: params'
// loss_function.type, else the loss_function entry (JSON or a bare name).
func lossName(info map[string]string) string {
	var params struct {
		Loss struct {
			Type string `json:"type"`
		} `json:"loss_function"`
	}
	if json.Unmarshal([]byte(info["params"]), &params) == nil && params.Loss.Type != "" {
		return params.Loss.Type
	}
	lf := info["loss_function"]
	var obj struct {
		Type string `json:"type"`
	}
	if json.Unmarshal([]byte(lf), &obj) == nil && obj.Type != "" {
		return obj.Type
	}
	if lf != "" && lf[0] != '{' {
		return lf
	}
	return ""
}

func buildOutput(d *Definition) (model.Output, model.Transform) {
	dim := d.ApproxDimension
	loss := lossName(d.Info)
	labels := classLabels(d.Info)
	var task model.Task
	sigmoidEach := false
	switch loss {
	case "Logloss", "CrossEntropy":
		task = model.BinaryClassification
	case "MultiClass":
		task = model.MultiClassification
	case "MultiClassOneVsAll":
		task, sigmoidEach = model.MultiClassification, true
	case "MultiLogloss", "MultiCrossEntropy":
		task, sigmoidEach = model.MultiLabel, true
	case "":
		// Unknown loss: class metadata makes it a classifier; otherwise one
		// dimension is a regressor and several a multiclass model, which is
		// how CatBoost interprets Probability for an unknown loss.
		switch {
		case dim == 1 && len(labels) > 0:
			task = model.BinaryClassification
		case dim == 1:
			task = model.Regression
		default:
			task = model.MultiClassification
		}
	default:
		task = model.Regression
	}
	if task == model.MultiClassification && dim == 1 {
		task = model.BinaryClassification // a one-dimensional "multiclass" is a binary logit
	}
	switch {
	case task == model.Regression:
		labels = nil
	case task == model.BinaryClassification && len(labels) != 2:
		labels = []string{"0", "1"}
	case task != model.BinaryClassification && len(labels) != dim:
		labels = make([]string, dim)
		for k := range labels {
			labels[k] = strconv.Itoa(k)
		}
	}
	threshold := 0.5
	if v, err := strconv.ParseFloat(d.Info["binclass_probability_threshold"], 64); err == nil && v > 0 && v < 1 {
		threshold = v
	}
	out := model.Output{Dimension: dim, Task: task, Loss: loss, ClassLabels: labels, ProbabilityThreshold: threshold}
	return out, model.Transform{Task: task, Dimension: dim, SigmoidEach: sigmoidEach, ClassBorder: math.Log(threshold / (1 - threshold)),
		RegressionProbability: true}
}

// classLabels reads the class labels (spec §4.2, TFullModel::GetModelClassLabels):
// class_params, else the legacy multiclass_params, else the training
// params' class_names. class_names wins over class_to_label (the numeric
// labels of integer-coded classes).
func classLabels(info map[string]string) []string {
	type classParams struct {
		ClassNames   []json.RawMessage `json:"class_names"`
		ClassToLabel []json.RawMessage `json:"class_to_label"`
	}
	for _, key := range []string{"class_params", "multiclass_params"} {
		var cp classParams
		if json.Unmarshal([]byte(info[key]), &cp) != nil {
			continue
		}
		if l := labelStrings(cp.ClassNames); len(l) > 0 {
			return l
		}
		if l := labelStrings(cp.ClassToLabel); len(l) > 0 {
			return l
		}
	}
	var params struct {
		DPO struct {
			ClassNames []json.RawMessage `json:"class_names"`
		} `json:"data_processing_options"`
	}
	if json.Unmarshal([]byte(info["params"]), &params) == nil {
		return labelStrings(params.DPO.ClassNames)
	}
	return nil
}

// labelStrings formats JSON labels: strings as they are, numbers in their
// shortest decimal form (1.0 → "1"), anything else as its JSON text.
func labelStrings(raw []json.RawMessage) []string {
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		var s string
		if json.Unmarshal(r, &s) == nil {
			out = append(out, s)
			continue
		}
		var f float64
		if json.Unmarshal(r, &f) == nil {
			out = append(out, strconv.FormatFloat(f, 'f', -1, 64))
			continue
		}
		out = append(out, string(r))
	}
	return out
}

var versionRE = regexp.MustCompile(`tags/v([0-9][0-9.]*)`)

func buildInfo(d *Definition) model.Info {
	info := model.Info{Symmetric: len(d.Trees) == 0}
	if m := versionRE.FindStringSubmatch(d.Info["catboost_version_info"]); m != nil {
		info.ProducerVersion = m[1]
	}
	for _, t := range d.Oblivious {
		info.TreeDepths = append(info.TreeDepths, len(t.Splits))
	}
	for _, t := range d.Trees {
		info.TreeDepths = append(info.TreeDepths, nodeDepth(t.Nodes, 0))
	}
	for _, c := range d.Ctrs {
		name := ctrTypeString(c.Base.Type)
		if !slices.Contains(info.CtrTypes, name) {
			info.CtrTypes = append(info.CtrTypes, name)
		}
	}
	slices.Sort(info.CtrTypes)
	return info
}

// nodeDepth is the longest path (in splits) below node n.
func nodeDepth(nodes []Node, n int) int {
	nd := nodes[n]
	depth := 0
	if nd.Left != 0 {
		depth = max(depth, 1+nodeDepth(nodes, n+int(nd.Left)))
	}
	if nd.Right != 0 {
		depth = max(depth, 1+nodeDepth(nodes, n+int(nd.Right)))
	}
	return depth
}

func ctrTypeString(t CtrType) string {
	names := [...]string{"Borders", "Buckets", "BinarizedTargetMeanValue", "FloatTargetMeanValue", "Counter", "FeatureFreq"}
	if int(t) < len(names) {
		return names[t]
	}
	return fmt.Sprintf("CtrType(%d)", t)
}
