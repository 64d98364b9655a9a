package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
)

// badInputExitCode is the exit code of `scorer model predict` for an input
// line it cannot score.
const badInputExitCode = 2

// modelFlags are the flags every `scorer model` subcommand shares.
type modelFlags struct {
	format   string
	features string
}

func newModelCmd() *cobra.Command {
	var mf modelFlags
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Inspect a model file, score or explain JSON lines with it, or measure its speed",
		Long: "model works on a model file of any supported format, detected from its content: CatBoost\n" +
			"(.cbm, JSON export, gzipped JSON), XGBoost JSON, LightGBM text (v2, v3, v4) and XGBoost binary\n" +
			"files from XGBoost 0.90 or older (newer ones: save the model as JSON). Without a PATH, every\n" +
			"subcommand uses the demo model built into the binary, as `scorer serve` does.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.PersistentFlags().StringVar(&mf.format, "format", "",
		"force the model format, one of "+modelfile.FormatList()+" (default: detect)")
	cmd.PersistentFlags().StringVar(&mf.features, "features", "",
		"rename the model's features, comma-separated in flat order (for models without feature names)")
	cmd.AddCommand(newModelInspectCmd(&mf), newModelPredictCmd(&mf), newModelExplainCmd(&mf), newModelBenchCmd(&mf))
	return cmd
}

// demoPath is how reports name the built-in demo model.
const demoPath = "(built-in demo model)"

// open loads the model file named by args (at most one path) as the flags
// say, or the built-in demo model when args is empty. It returns the path
// reports show.
func (mf *modelFlags) open(args []string) (*modelfile.File, string, error) {
	format, err := modelfile.ParseFormat(mf.format)
	if err != nil {
		return nil, "", err
	}
	opts := modelfile.Options{Format: format}
	if mf.features != "" {
		for _, n := range strings.Split(mf.features, ",") {
			opts.FeatureNames = append(opts.FeatureNames, strings.TrimSpace(n))
		}
	}
	if len(args) == 0 {
		f, err := modelfile.Parse(demo.Name, demo.Bytes(), opts)
		return f, demoPath, err
	}
	f, err := modelfile.Open(args[0], opts)
	return f, args[0], err
}

// formatDetail is implemented by backends that name their file format's
// version (model/leaves: "LightGBM text v3").
type formatDetail interface{ Format() string }

// inspectReport is what `scorer model inspect --json` prints.
type inspectReport struct {
	Path            string           `json:"path"`
	Model           string           `json:"model"`
	Format          string           `json:"format"`
	FormatDetail    string           `json:"format_detail,omitempty"`
	ProducerVersion string           `json:"producer_version"`
	Task            string           `json:"task"`
	Loss            string           `json:"loss"`
	Dimension       int              `json:"dimension"`
	ClassLabels     []string         `json:"class_labels"`
	Threshold       float64          `json:"probability_threshold,omitempty"`
	Serving         string           `json:"serving_prediction_type"`
	Trees           int              `json:"trees"`
	TreeDepths      []int            `json:"tree_depths"`
	Symmetric       bool             `json:"symmetric"`
	CtrTypes        []string         `json:"ctr_types"`
	Features        []inspectFeature `json:"features"`
}

type inspectFeature struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	FlatIndex int    `json:"flat_index"`
	Index     int    `json:"index"`
	Used      bool   `json:"used"`
	// CategoryCode marks a float feature the model treats as categorical
	// (XGBoost, LightGBM): it takes the integer category code.
	CategoryCode bool `json:"category_code,omitempty"`
}

// categoricalCodes is implemented by backends whose categorical features
// take integer codes as numbers (model/xgboost, model/leaves).
type categoricalCodes interface{ CategoricalCodes() []bool }

func newModelInspectCmd(mf *modelFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect [PATH]",
		Short: "Print a model's format, producer version, output, features and trees",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, path, err := mf.open(args)
			if err != nil {
				return err
			}
			r := buildInspectReport(path, f)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return writeInspectReport(cmd.OutOrStdout(), r)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func buildInspectReport(path string, f *modelfile.File) inspectReport {
	o := f.Model.Output()
	r := inspectReport{
		Path: path, Model: f.Version(), Format: string(f.Format),
		Task: o.Task.String(), Loss: o.Loss, Dimension: o.Dimension,
		ClassLabels: o.ClassLabels, Serving: o.Serving().String(),
		TreeDepths: []int{}, CtrTypes: []string{}, Features: []inspectFeature{},
	}
	if r.ClassLabels == nil {
		r.ClassLabels = []string{}
	}
	if o.Task == model.BinaryClassification {
		r.Threshold = o.ProbabilityThreshold
	}
	if d, ok := modelfile.Unwrap(f.Model).(formatDetail); ok {
		r.FormatDetail = d.Format()
	}
	if d, ok := f.Model.(model.Describer); ok {
		info := d.Describe()
		r.ProducerVersion = info.ProducerVersion
		r.Symmetric = info.Symmetric
		if info.TreeDepths != nil {
			r.TreeDepths = info.TreeDepths
		}
		if info.CtrTypes != nil {
			r.CtrTypes = info.CtrTypes
		}
	}
	r.Trees = len(r.TreeDepths)
	var codes []bool
	if c, ok := modelfile.Unwrap(f.Model).(categoricalCodes); ok {
		codes = c.CategoricalCodes()
	}
	for _, ft := range f.Model.Schema().Features {
		code := ft.Kind == model.Float && ft.Index < len(codes) && codes[ft.Index]
		r.Features = append(r.Features, inspectFeature{ft.Name, ft.Kind.String(), ft.FlatIndex, ft.Index, ft.Used, code})
	}
	return r
}

func writeInspectReport(w io.Writer, r inspectReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	orNone := func(s string) string {
		if s == "" {
			return "(not recorded)"
		}
		return s
	}
	format := r.Format
	if r.FormatDetail != "" {
		format += " (" + r.FormatDetail + ")"
	}
	fmt.Fprintf(tw, "file:\t%s\n", r.Path)
	fmt.Fprintf(tw, "model:\t%s\n", r.Model)
	fmt.Fprintf(tw, "format:\t%s\n", format)
	fmt.Fprintf(tw, "producer version:\t%s\n", orNone(r.ProducerVersion))
	fmt.Fprintf(tw, "task:\t%s\n", r.Task)
	fmt.Fprintf(tw, "loss:\t%s\n", orNone(r.Loss))
	fmt.Fprintf(tw, "dimensions:\t%d\n", r.Dimension)
	if len(r.ClassLabels) > 0 {
		fmt.Fprintf(tw, "class labels:\t%s\n", strings.Join(r.ClassLabels, ", "))
	}
	if r.Threshold != 0 {
		fmt.Fprintf(tw, "probability threshold:\t%g\n", r.Threshold)
	}
	fmt.Fprintf(tw, "served as:\t%s\n", r.Serving)
	fmt.Fprintf(tw, "trees:\t%d%s\n", r.Trees, map[bool]string{true: " (symmetric)", false: ""}[r.Symmetric])
	fmt.Fprintf(tw, "tree depths:\t%s\n", depthSummary(r.TreeDepths))
	ctrs := "none"
	if len(r.CtrTypes) > 0 {
		ctrs = strings.Join(r.CtrTypes, ", ")
	}
	fmt.Fprintf(tw, "CTR types:\t%s\n", ctrs)
	used, floats := 0, 0
	for _, f := range r.Features {
		if f.Used {
			used++
		}
		if f.Kind == model.Float.String() {
			floats++
		}
	}
	fmt.Fprintf(tw, "features:\t%d (%d float, %d categorical; %d used)\n", len(r.Features), floats, len(r.Features)-floats, used)
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  flat\tname\tkind\tindex\tused")
	for _, f := range r.Features {
		kind := f.Kind
		if f.CategoryCode {
			kind += " (category code)"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%s\n", f.FlatIndex, strconv.Quote(f.Name), kind, f.Index, map[bool]string{true: "yes", false: "no"}[f.Used])
	}
	return tw.Flush()
}

// depthSummary counts trees per depth: "6×200" or "3×10, 4×90".
func depthSummary(depths []int) string {
	if len(depths) == 0 {
		return "-"
	}
	counts := map[int]int{}
	for _, d := range depths {
		counts[d]++
	}
	keys := make([]int, 0, len(counts))
	for d := range counts {
		keys = append(keys, d)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, d := range keys {
		parts[i] = fmt.Sprintf("%d×%d", d, counts[d])
	}
	return strings.Join(parts, ", ")
}

// defaultPredictionType is Probability for classifiers and RawFormulaVal for
// regressors.
func defaultPredictionType(o model.Output) model.PredictionType {
	if o.Task == model.Regression {
		return model.RawFormulaVal
	}
	return model.Probability
}

// predictionTypeFlag resolves --prediction-type for m ("" = the default).
func predictionTypeFlag(s string, o model.Output) (model.PredictionType, error) {
	if s == "" {
		return defaultPredictionType(o), nil
	}
	return model.ParsePredictionType(s)
}

func newModelPredictCmd(mf *modelFlags) *cobra.Command {
	var ptype string
	batch := 1024
	cmd := &cobra.Command{
		Use:   "predict [PATH]",
		Short: "Score JSON lines from stdin, one JSON array of predictions per line on stdout",
		Long: "predict reads one application per line from stdin: a JSON object keyed by feature name\n" +
			"(every feature required; the service's rules: numbers or numeric strings for float features,\n" +
			"strings, integers or booleans (\"True\"/\"False\") for categorical ones, null = missing number),\n" +
			"or a JSON array of values in flat feature order (see `scorer model inspect`) under the same\n" +
			"rules. Blank lines and a byte-order mark before the first line are skipped.\n" +
			"It writes one JSON array per line: every output dimension; binary Probability is\n" +
			"[p(positive class)], Class is [label]. --prediction-type defaults to Probability for\n" +
			"classifiers and RawFormulaVal for regressors. A bad line stops with an error naming the line\n" +
			"and the feature, after the lines before it were written, and exit code 2.",
		Example: `  echo '{"Term":84,"NoEmp":5,...}' | scorer model predict loan_catboost_model.cbm`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, _, err := mf.open(args)
			if err != nil {
				return err
			}
			p, err := predictionTypeFlag(ptype, f.Model.Output())
			if err != nil {
				return err
			}
			if batch < 1 {
				return errors.New("--batch must be at least 1")
			}
			// Refuse a prediction type the model cannot produce before
			// reading any input.
			if err := f.Model.Predict(model.NewBatch(f.Model.Schema(), 0), p, nil); err != nil {
				return err
			}
			return predictLines(cmd.InOrStdin(), cmd.OutOrStdout(), f.Model, p, batch)
		},
	}
	cmd.Flags().StringVar(&ptype, "prediction-type", "",
		"RawFormulaVal, Probability, Class, Exponent or MultiProbability (default: Probability for classifiers, RawFormulaVal for regressors)")
	cmd.Flags().IntVar(&batch, "batch", batch, "rows scored per Predict call")
	return cmd
}

// maxLine bounds one input line.
const maxLine = 16 << 20

// predictLines scores every line of in and writes one JSON array per line to
// out, batching rows but keeping their order.
func predictLines(in io.Reader, out io.Writer, m model.Model, p model.PredictionType, batchSize int) error {
	o := m.Output()
	width := o.Width(p)
	preds := make([]float64, batchSize*width)
	var line []byte
	return batchLines(in, out, m.Schema(), batchSize, func(b *model.Batch, w *bufio.Writer) error {
		if err := m.Predict(b, p, preds[:b.Rows*width]); err != nil {
			return err
		}
		for r := 0; r < b.Rows; r++ {
			line = appendPrediction(line[:0], preds[r*width:(r+1)*width], p, o)
			if _, err := w.Write(line); err != nil {
				return err
			}
		}
		return nil
	})
}

// batchLines decodes every line of in into batches of up to batchSize rows
// and hands each batch, in order, to emit, which writes its rows to w. A bad
// line stops with an exitError naming it, after the rows before it were
// emitted and written.
func batchLines(in io.Reader, out io.Writer, s *model.Schema, batchSize int, emit func(*model.Batch, *bufio.Writer) error) error {
	dec := ingest.NewDecoder(s, ingest.DefaultSchemaConfig(), ingest.Limits{MaxPayload: maxLine, MaxArray: 1})
	b := model.NewBatch(s, batchSize)
	w := bufio.NewWriter(out)
	flush := func() error {
		if b.Rows == 0 {
			return nil
		}
		if err := emit(b, w); err != nil {
			return err
		}
		b.Reset()
		return nil
	}
	lines := ingest.NewLines(in, maxLine)
	for {
		line, n, err := lines.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		bad := false
		switch {
		case errors.Is(err, ingest.ErrLineTooLong):
			bad = true
		case err != nil:
			err = fmt.Errorf("read input: %w", err)
		default:
			if err = decodeLine(dec, s, line, b); err != nil {
				bad, err = true, fmt.Errorf("line %d: %w", n, err)
			}
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			if ferr := w.Flush(); ferr != nil {
				return ferr
			}
			if bad {
				return exitError{code: badInputExitCode, err: err}
			}
			return err
		}
		if b.Rows == batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return w.Flush()
}

// appendPrediction appends one row's predictions as a JSON array and a
// newline: numbers with full float64 precision (NaN and infinities as null),
// or the class label for Class.
func appendPrediction(dst []byte, vals []float64, p model.PredictionType, o model.Output) []byte {
	dst = append(dst, '[')
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, ',')
		}
		if p == model.Class && len(o.ClassLabels) > 0 && v >= 0 && int(v) < len(o.ClassLabels) && v == math.Trunc(v) {
			label, _ := json.Marshal(o.ClassLabels[int(v)])
			dst = append(dst, label...)
			continue
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			dst = append(dst, "null"...)
			continue
		}
		dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
	}
	return append(dst, ']', '\n')
}

// decodeLine appends the row of one input line to b with the service's
// decoder: an object keyed by feature name, or an array of the values in
// flat feature order (the same value rules). Its errors word the problem
// for a person, naming the features.
func decodeLine(dec *ingest.Decoder, s *model.Schema, line []byte, b *model.Batch) error {
	var err error
	if line[0] == '[' {
		err = dec.DecodeValues(line, b)
	} else {
		err = dec.DecodeOne(line, b)
	}
	var ie *ingest.InputError
	if !errors.As(err, &ie) {
		return err
	}
	if line[0] == '[' {
		// An array's message names the first value, its position and
		// what it was.
		return errors.New(ie.Message)
	}
	if len(ie.Fields) == 0 {
		return err
	}
	names := make([]string, 0, len(ie.Fields))
	for k := range ie.Fields {
		names = append(names, k)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("feature %q: %s", k, fieldProblem(s, k, ie.Fields[k]))
	}
	return errors.New(strings.Join(parts, "; "))
}

// fieldProblem words one of the decoder's field codes for a person.
func fieldProblem(s *model.Schema, name, code string) string {
	switch code {
	case ingest.FieldMissing:
		return "missing (every feature is required; null means a missing number)"
	case ingest.FieldInvalidNumber:
		return "want a number (or a string holding one), or null"
	case ingest.FieldInvalidCategory:
		return "want a string, an integer or a boolean"
	case ingest.FieldDuplicate:
		return "given twice"
	}
	if _, ok := s.Lookup(name); !ok {
		return "not a feature of the model"
	}
	return code
}
