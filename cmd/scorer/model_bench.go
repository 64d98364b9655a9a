package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/loan-scorer/loan-scorer/internal/proccpu"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
)

func newModelBenchCmd(mf *modelFlags) *cobra.Command {
	rows, batch := 100000, 1024
	var ptype string
	var seed uint64 = 1
	var explain bool
	cmd := &cobra.Command{
		Use:   "bench [PATH]",
		Short: "Measure what scoring costs with this model: ns per row and per tree·row, allocations",
		Long: "bench scores --rows generated rows in Predict calls of --batch rows on one goroutine and\n" +
			"prints the time per row, per tree and row, and the allocations per call. Inputs are sampled\n" +
			"between the model's own split thresholds where the backend exposes them (so every branch is\n" +
			"taken), else from N(0, 1); 2 % of numbers are missing; categories are the model's one-hot\n" +
			"values and random strings. With --explain it also explains the same rows in Explain calls,\n" +
			"alternating with the Predict calls in twenty rounds so both see the same machine, and prints the\n" +
			"explained row's cost beside the plain one. The timings are for this machine and its current\n" +
			"load. Without a PATH it measures the built-in demo model.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rows < 1 || batch < 1 {
				return errors.New("--rows and --batch must be at least 1")
			}
			f, _, err := mf.open(args)
			if err != nil {
				return err
			}
			p, err := predictionTypeFlag(ptype, f.Model.Output())
			if err != nil {
				return err
			}
			res, err := runBench(f.Model, p, rows, batch, seed, explain)
			if err != nil {
				return err
			}
			res.write(cmd.OutOrStdout(), f)
			return nil
		},
	}
	cmd.Flags().IntVar(&rows, "rows", rows, "rows to score")
	cmd.Flags().IntVar(&batch, "batch", batch, "rows per Predict call")
	cmd.Flags().BoolVar(&explain, "explain", false, "also measure explanations (SHAP values) of the same rows")
	cmd.Flags().StringVar(&ptype, "prediction-type", "", "prediction type (default: Probability for classifiers, RawFormulaVal for regressors)")
	cmd.Flags().Uint64Var(&seed, "seed", seed, "seed of the generated inputs")
	return cmd
}

// benchResult is one bench run.
type benchResult struct {
	p           model.PredictionType
	rows, batch int
	calls       int
	elapsed     time.Duration
	trees       int
	allocs      uint64
	bytes       uint64
	fromSplits  bool
	// explained is set when explanations were measured too.
	explained                   bool
	explainElapsed              time.Duration
	explainAllocs, explainBytes uint64
	// ratios holds each round's explained / plain time: their median
	// resists a change of load better than the totals.
	ratios []float64
	// cpu and explainCPU are the process CPU time of the Predict and the
	// Explain calls (0 where the platform does not say).
	cpu, explainCPU time.Duration
}

// benchRounds is how many times bench --explain alternates between the
// Predict and the Explain calls, so a change of load hits both.
const benchRounds = 20

// runBench scores ⌈rows/batch⌉ batches of batch generated rows, and with
// explain explains them too.
func runBench(m model.Model, p model.PredictionType, rows, batch int, seed uint64, explain bool) (benchResult, error) {
	res := benchResult{p: p, batch: batch, calls: (rows + batch - 1) / batch, explained: explain}
	res.rows = res.calls * batch
	if d, ok := m.(model.Describer); ok {
		res.trees = len(d.Describe().TreeDepths)
	}
	gen := newInputGen(m, seed)
	res.fromSplits = gen.fromSplits
	// A few distinct batches, cycled, keep the inputs varied without
	// holding rows×features values in memory.
	distinct := min(res.calls, max(1, 8192/batch))
	batches := make([]*model.Batch, distinct)
	for i := range batches {
		batches[i] = gen.batch(batch)
	}
	out := make([]float64, batch*m.Output().Width(p))
	if err := m.Predict(batches[0], p, out); err != nil { // warm-up: pools, caches
		return res, err
	}
	var shap []float64
	if explain {
		dims, err := model.Explained(m) // prepares the explanations
		if err != nil {
			return res, err
		}
		shap = make([]float64, batch*model.ExplanationWidth(m.Schema(), dims))
		if err := model.Explain(m, batches[0], shap); err != nil {
			return res, err
		}
	}
	rounds := 1
	if explain {
		rounds = min(benchRounds, res.calls)
	}
	var before, after runtime.MemStats
	for round := range rounds {
		lo, hi := res.calls*round/rounds, res.calls*(round+1)/rounds
		runtime.ReadMemStats(&before)
		cpu := proccpu.Used()
		start := time.Now()
		for i := lo; i < hi; i++ {
			if err := m.Predict(batches[i%distinct], p, out); err != nil {
				return res, err
			}
		}
		plain := time.Since(start)
		res.cpu += proccpu.Used() - cpu
		res.elapsed += plain
		runtime.ReadMemStats(&after)
		res.allocs += after.Mallocs - before.Mallocs
		res.bytes += after.TotalAlloc - before.TotalAlloc
		if !explain {
			continue
		}
		runtime.ReadMemStats(&before)
		cpu = proccpu.Used()
		start = time.Now()
		for i := lo; i < hi; i++ {
			if err := model.Explain(m, batches[i%distinct], shap); err != nil {
				return res, err
			}
		}
		explained := time.Since(start)
		res.explainCPU += proccpu.Used() - cpu
		res.explainElapsed += explained
		res.ratios = append(res.ratios, float64(explained)/float64(max(plain, 1)))
		runtime.ReadMemStats(&after)
		res.explainAllocs += after.Mallocs - before.Mallocs
		res.explainBytes += after.TotalAlloc - before.TotalAlloc
	}
	return res, nil
}

func (r benchResult) write(w io.Writer, f *modelfile.File) {
	nsRow := float64(r.elapsed.Nanoseconds()) / float64(r.rows)
	source := "N(0, 1) inputs"
	if r.fromSplits {
		source = "inputs sampled between the model's split thresholds"
	}
	fmt.Fprintf(w, "model:        %s (%s)\n", f.Version(), f.Format)
	fmt.Fprintf(w, "scored:       %d rows in %d Predict calls of %d rows, %s, %s\n", r.rows, r.calls, r.batch, r.p, source)
	fmt.Fprintf(w, "elapsed:      %s\n", r.elapsed.Round(time.Microsecond))
	fmt.Fprintf(w, "ns/row:       %.1f\n", nsRow)
	if r.trees > 0 {
		fmt.Fprintf(w, "ns/tree·row:  %.2f (%d trees)\n", nsRow/float64(r.trees), r.trees)
	} else {
		fmt.Fprintf(w, "ns/tree·row:  - (the model does not report its trees)\n")
	}
	fmt.Fprintf(w, "allocs:       %.2f per call (%.0f B per call)\n", float64(r.allocs)/float64(r.calls), float64(r.bytes)/float64(r.calls))
	if !r.explained {
		return
	}
	explained := float64(r.explainElapsed.Nanoseconds()) / float64(r.rows)
	ratios := slices.Clone(r.ratios)
	slices.Sort(ratios)
	fmt.Fprintf(w, "explained:    %d rows in %d Explain calls, alternating with Predict in %d rounds\n", r.rows, r.calls, len(ratios))
	fmt.Fprintf(w, "ns/row:       %.1f explained, %.2f× the plain row (median of the rounds %.2f×, range %.2f–%.2f×)\n",
		explained, explained/nsRow, ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1])
	if r.cpu > 0 && r.explainCPU > 0 {
		fmt.Fprintf(w, "CPU ns/row:   %.1f plain, %.1f explained: %.2f× (process CPU time, which a busy machine inflates less)\n",
			float64(r.cpu.Nanoseconds())/float64(r.rows), float64(r.explainCPU.Nanoseconds())/float64(r.rows), float64(r.explainCPU)/float64(r.cpu))
	}
	fmt.Fprintf(w, "allocs:       %.2f per Explain call (%.0f B per call)\n", float64(r.explainAllocs)/float64(r.calls), float64(r.explainBytes)/float64(r.calls))
}

// splitThresholder is implemented by backends that expose, per float
// feature Index, the values their trees split on (model/xgboost,
// model/leaves).
type splitThresholder interface{ SplitThresholds() [][]float64 }

// inputGen generates rows for a model's schema.
type inputGen struct {
	schema     *model.Schema
	rng        *rand.Rand
	splits     [][]float64 // by float Index; nil entries: N(0, 1)
	cats       [][]string  // by categorical Index: known values to mix in
	fromSplits bool
}

func newInputGen(m model.Model, seed uint64) *inputGen {
	g := &inputGen{schema: m.Schema(), rng: rand.New(rand.NewPCG(seed, 0x5eed))}
	g.splits = make([][]float64, g.schema.NumFloat)
	g.cats = make([][]string, g.schema.NumCat)
	switch b := modelfile.Unwrap(m).(type) {
	case splitThresholder:
		for i, t := range b.SplitThresholds() {
			if i < len(g.splits) {
				g.splits[i] = t
			}
		}
	case *catboost.Model:
		d := b.Definition()
		for _, f := range d.FloatFeatures {
			if f.Index < len(g.splits) {
				for _, v := range f.Borders {
					g.splits[f.Index] = append(g.splits[f.Index], float64(v))
				}
			}
		}
		for _, oh := range d.OneHotFeatures {
			if oh.CatIndex < len(g.cats) {
				g.cats[oh.CatIndex] = append(g.cats[oh.CatIndex], oh.StringValues...)
			}
		}
	}
	for _, s := range g.splits {
		if len(s) > 0 {
			g.fromSplits = true
		}
	}
	return g
}

// batch returns n generated rows.
func (g *inputGen) batch(n int) *model.Batch {
	b := model.NewBatch(g.schema, n)
	for range n {
		floats, cats := b.AppendRow()
		for i := range floats {
			floats[i] = g.number(g.splits[i])
		}
		for j := range cats {
			cats[j] = g.category(g.cats[j])
		}
	}
	return b
}

// number draws a value uniformly from one of the intervals the sorted
// thresholds t cut the line into (the outer ones bounded by a margin), or
// N(0, 1) without thresholds; 2 % are missing.
func (g *inputGen) number(t []float64) float64 {
	if g.rng.IntN(50) == 0 {
		return math.NaN()
	}
	if len(t) == 0 {
		return g.rng.NormFloat64()
	}
	margin := (t[len(t)-1]-t[0])*0.1 + 1
	j := g.rng.IntN(len(t) + 1)
	lo, hi := t[0]-margin, t[len(t)-1]+margin
	if j > 0 {
		lo = t[j-1]
	}
	if j < len(t) {
		hi = t[j]
	}
	if g.rng.IntN(8) == 0 && j < len(t) {
		return t[j] // exactly on a threshold now and then
	}
	return lo + (hi-lo)*g.rng.Float64()
}

// category returns one of the known values or a random one of 32 strings.
func (g *inputGen) category(known []string) string {
	if len(known) > 0 && g.rng.IntN(2) == 0 {
		return known[g.rng.IntN(len(known))]
	}
	return "c" + strconv.Itoa(g.rng.IntN(32))
}
