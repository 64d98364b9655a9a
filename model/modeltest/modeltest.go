package modeltest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
)

// Case is one model of a backend under test.
type Case struct {
	// Name labels the subtests.
	Name string
	// Model is the backend's model, as its loader returns it.
	Model model.Model
	// Rows are inputs shaped for Model's schema (a few hundred rows; more
	// than a backend's block size exercises its block path), with values
	// around the model's splits and some missing.
	Rows *model.Batch
	// What the backend claims Probability is; the zero values are the
	// common case: 1/(1+exp(-raw)) for one dimension, the softmax across
	// several.
	//
	// SigmoidScale is k in 1/(1+exp(-k·raw)) (LightGBM's sigmoid
	// parameter); 0 means 1.
	SigmoidScale float64
	// SigmoidEach: Probability is the sigmoid of every dimension
	// (CatBoost's multi-label and one-vs-all losses).
	SigmoidEach bool
	// RawIsProbability: the raw value is the probability (LightGBM's binary
	// random forests), and Class compares it with the threshold directly.
	RawIsProbability bool
}

// allTypes are the prediction types a backend is asked for.
var allTypes = []model.PredictionType{model.RawFormulaVal, model.Probability, model.Class, model.Exponent, model.MultiProbability}

// TestModel runs the conformance checks on c.Model; every backend's tests
// call it for the models they load, so every backend keeps the contract of
// model.Model the service relies on:
//   - the schema lists features in flat order, with per-kind indexes that
//     fill Batch rows exactly;
//   - Output is consistent (class labels per task) and its Serving type is
//     produced;
//   - Predict writes exactly rows × Output().Width(p) values, refuses a
//     short output slice, a batch of another shape and unknown types, and
//     refuses Probability or Class only for regressors;
//   - every prediction type is the documented transform of RawFormulaVal,
//     computed here independently of package model's Transform;
//   - a row scores the same alone as in a batch, and from concurrent
//     callers;
//   - Predict allocates nothing in steady state (checked without -race,
//     under which sync.Pool drops items on purpose).
func TestModel(t *testing.T, c Case) {
	t.Helper()
	t.Run(c.Name, func(t *testing.T) {
		if c.Rows == nil || c.Rows.Rows == 0 {
			t.Fatal("modeltest: the case has no rows")
		}
		if err := c.Rows.Check(c.Model.Schema()); err != nil {
			t.Fatalf("modeltest: rows do not fit the schema: %v", err)
		}
		t.Run("schema", func(t *testing.T) { checkSchema(t, c.Model.Schema()) })
		t.Run("output", func(t *testing.T) { checkOutput(t, c.Model) })
		t.Run("widths", func(t *testing.T) { checkWidths(t, c) })
		t.Run("transforms", func(t *testing.T) { checkTransforms(t, c) })
		t.Run("batching", func(t *testing.T) { checkBatching(t, c) })
		t.Run("concurrent", func(t *testing.T) { checkConcurrent(t, c) })
		t.Run("allocations", func(t *testing.T) { checkAllocations(t, c) })
	})
}

func checkSchema(t *testing.T, s *model.Schema) {
	floats, cats := 0, 0
	names := map[string]bool{}
	for i, f := range s.Features {
		if f.FlatIndex != i {
			t.Errorf("feature %d %q has FlatIndex %d", i, f.Name, f.FlatIndex)
		}
		if f.Name == "" || names[f.Name] {
			t.Errorf("feature %d: name %q is empty or repeated", i, f.Name)
		}
		names[f.Name] = true
		switch f.Kind {
		case model.Float:
			if f.Index != floats {
				t.Errorf("float feature %q has Index %d, want %d", f.Name, f.Index, floats)
			}
			floats++
		case model.Categorical:
			if f.Index != cats {
				t.Errorf("categorical feature %q has Index %d, want %d", f.Name, f.Index, cats)
			}
			cats++
		default:
			t.Errorf("feature %q has kind %v", f.Name, f.Kind)
		}
	}
	if floats != s.NumFloat || cats != s.NumCat {
		t.Errorf("NumFloat %d, NumCat %d; the features have %d and %d", s.NumFloat, s.NumCat, floats, cats)
	}
}

func checkOutput(t *testing.T, m model.Model) {
	o := m.Output()
	if o.Dimension < 1 {
		t.Fatalf("Dimension %d", o.Dimension)
	}
	switch o.Task {
	case model.Regression:
		if len(o.ClassLabels) != 0 {
			t.Errorf("a regressor with class labels %v", o.ClassLabels)
		}
	case model.BinaryClassification:
		if o.Dimension != 1 || len(o.ClassLabels) != 2 {
			t.Errorf("binary: Dimension %d, labels %v; want 1 and two labels", o.Dimension, o.ClassLabels)
		}
		if !(o.ProbabilityThreshold > 0 && o.ProbabilityThreshold < 1) {
			t.Errorf("binary: ProbabilityThreshold %v outside (0, 1)", o.ProbabilityThreshold)
		}
	case model.MultiClassification, model.MultiLabel:
		if len(o.ClassLabels) != o.Dimension {
			t.Errorf("%v: %d labels for %d dimensions", o.Task, len(o.ClassLabels), o.Dimension)
		}
	default:
		t.Errorf("Task %v", o.Task)
	}
	b := model.NewBatch(m.Schema(), 1)
	b.AppendRow()
	out := make([]float64, o.Width(o.Serving()))
	if err := m.Predict(b, o.Serving(), out); err != nil {
		t.Errorf("the serving type %v: %v", o.Serving(), err)
	}
}

// guard marks the values past the end of what Predict may write.
const guard = -12345.678

func checkWidths(t *testing.T, c Case) {
	m, b := c.Model, c.Rows
	o := m.Output()
	for _, p := range allTypes {
		w := o.Width(p)
		out := make([]float64, b.Rows*w+8)
		for i := range out {
			out[i] = guard
		}
		err := m.Predict(b, p, out[:b.Rows*w])
		if err != nil {
			if o.Task == model.Regression && (p == model.Probability || p == model.Class) {
				continue // a regressor may refuse them
			}
			t.Errorf("%v: %v", p, err)
			continue
		}
		for i, v := range out[:b.Rows*w] {
			if v == guard {
				t.Errorf("%v: value %d not written", p, i)
				break
			}
		}
		for i, v := range out[b.Rows*w:] {
			if v != guard {
				t.Errorf("%v: wrote past rows × Width (%d × %d): value %d is %v", p, b.Rows, w, b.Rows*w+i, v)
				break
			}
		}
		if err := m.Predict(b, p, out[:b.Rows*w-1]); err == nil {
			t.Errorf("%v: an output slice one value short was accepted", p)
		}
		empty := model.NewBatch(m.Schema(), 0)
		if err := m.Predict(empty, p, nil); err != nil {
			t.Errorf("%v of no rows: %v", p, err)
		}
	}
	for _, p := range []model.PredictionType{0, 99} {
		if err := m.Predict(b, p, make([]float64, b.Rows*o.Dimension)); err == nil {
			t.Errorf("prediction type %d was accepted", p)
		}
	}
	bad := &model.Batch{Rows: 1, NumFloat: b.NumFloat + 1, NumCat: b.NumCat,
		Floats: make([]float64, b.NumFloat+1), Cats: make([]string, b.NumCat)}
	if err := m.Predict(bad, model.RawFormulaVal, make([]float64, o.Dimension)); err == nil {
		t.Error("a batch with one float too many per row was accepted")
	}
}

// predict returns m's prediction of type p for b, or nil when m refuses p.
func predict(t *testing.T, m model.Model, b *model.Batch, p model.PredictionType) []float64 {
	t.Helper()
	out := make([]float64, b.Rows*m.Output().Width(p))
	if err := m.Predict(b, p, out); err != nil {
		if m.Output().Task == model.Regression && (p == model.Probability || p == model.Class) {
			return nil
		}
		t.Fatalf("%v: %v", p, err)
	}
	return out
}

func checkTransforms(t *testing.T, c Case) {
	m, b := c.Model, c.Rows
	o := m.Output()
	dim := o.Dimension
	raw := predict(t, m, b, model.RawFormulaVal)
	scale := c.SigmoidScale
	if scale == 0 {
		scale = 1
	}
	logistic := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

	for r := range b.Rows {
		row := raw[r*dim : (r+1)*dim]
		exp := make([]float64, dim)
		sig := make([]float64, dim)
		for k, v := range row {
			exp[k], sig[k] = math.Exp(v), logistic(v)
		}
		compare(t, r, "Exponent", predict(t, m, b, model.Exponent)[r*dim:(r+1)*dim], exp, 0)
		compare(t, r, "MultiProbability", predict(t, m, b, model.MultiProbability)[r*dim:(r+1)*dim], sig, 0)
		if r >= 8 {
			break // the per-type calls above score every row: a few rows suffice
		}
	}

	prob := predict(t, m, b, model.Probability)
	if prob != nil {
		for r := range b.Rows {
			row := raw[r*dim : (r+1)*dim]
			want := make([]float64, dim)
			switch {
			case c.RawIsProbability:
				copy(want, row)
			case dim == 1 || c.SigmoidEach:
				for k, v := range row {
					want[k] = logistic(scale * v)
				}
			default:
				top := math.Inf(-1)
				for _, v := range row {
					top = math.Max(top, v)
				}
				sum := 0.0
				for k, v := range row {
					want[k] = math.Exp(v - top)
					sum += want[k]
				}
				for k := range want {
					want[k] /= sum
				}
			}
			compare(t, r, "Probability", prob[r*dim:(r+1)*dim], want, 1e-15)
		}
	}

	class := predict(t, m, b, model.Class)
	if class == nil || prob == nil {
		return
	}
	for r := range b.Rows {
		switch o.Task {
		case model.MultiClassification:
			row := raw[r*dim : (r+1)*dim]
			best := 0
			for k, v := range row {
				if v > row[best] {
					best = k
				}
			}
			if class[r] != float64(best) {
				t.Errorf("row %d: Class %v, the largest raw value is %d (%v)", r, class[r], best, row)
			}
		default: // binary, multi-label: one decision per dimension
			for k := range dim {
				p := prob[r*dim+k]
				if math.Abs(p-o.ProbabilityThreshold) < 1e-12 {
					continue // on the threshold: rounding decides
				}
				want := 0.0
				if p > o.ProbabilityThreshold {
					want = 1
				}
				if class[r*dim+k] != want {
					t.Errorf("row %d dimension %d: Class %v with probability %v and threshold %v",
						r, k, class[r*dim+k], p, o.ProbabilityThreshold)
				}
			}
		}
	}
}

// compare fails when got and want differ by more than tol relative (0:
// bit for bit).
func compare(t *testing.T, row int, what string, got, want []float64, tol float64) {
	t.Helper()
	for k := range want {
		g, w := got[k], want[k]
		if math.Float64bits(g) == math.Float64bits(w) || (math.IsNaN(g) && math.IsNaN(w)) {
			continue
		}
		if tol > 0 && math.Abs(g-w) <= tol*math.Max(1, math.Abs(w)) {
			continue
		}
		t.Errorf("row %d: %s[%d] = %v, want %v (from RawFormulaVal)", row, what, k, g, w)
		return
	}
}

// rowsOf copies rows [from, to) of b into a batch of their own.
func rowsOf(b *model.Batch, from, to int) *model.Batch {
	s := &model.Schema{NumFloat: b.NumFloat, NumCat: b.NumCat}
	sub := model.NewBatch(s, to-from)
	for r := from; r < to; r++ {
		floats, cats := b.Row(r)
		f, c := sub.AppendRow()
		copy(f, floats)
		copy(c, cats)
	}
	return sub
}

func checkBatching(t *testing.T, c Case) {
	m, b := c.Model, c.Rows
	serving := m.Output().Serving()
	for _, p := range []model.PredictionType{model.RawFormulaVal, serving} {
		whole := predict(t, m, b, p)
		w := m.Output().Width(p)
		cuts := []int{0, 1, b.Rows / 3, b.Rows - 1, b.Rows}
		for i := 0; i+1 < len(cuts); i++ {
			from, to := cuts[i], cuts[i+1]
			if from >= to {
				continue
			}
			part := predict(t, m, rowsOf(b, from, to), p)
			if err := sameBits(part, whole[from*w:to*w]); err != nil {
				t.Errorf("%v of rows %d..%d on their own: %v", p, from, to, err)
			}
		}
		for r := 0; r < b.Rows; r += max(1, b.Rows/16) {
			one := predict(t, m, rowsOf(b, r, r+1), p)
			if err := sameBits(one, whole[r*w:(r+1)*w]); err != nil {
				t.Errorf("%v of row %d alone: %v", p, r, err)
			}
		}
	}
}

func sameBits(got, want []float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			return fmt.Errorf("value %d is %v, in the whole batch %v", i, got[i], want[i])
		}
	}
	return nil
}

func checkConcurrent(t *testing.T, c Case) {
	m, b := c.Model, c.Rows
	p := m.Output().Serving()
	want := predict(t, m, b, p)
	const callers, rounds = 8, 4
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			out := make([]float64, len(want))
			for range rounds {
				if err := m.Predict(b, p, out); err != nil {
					errs <- err
					return
				}
				if err := sameBits(out, want); err != nil {
					errs <- fmt.Errorf("concurrent %v: %w", p, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		t.Error(err)
	}
}

func checkAllocations(t *testing.T, c Case) {
	if testkit.RaceEnabled {
		t.Skip("under -race sync.Pool drops items on purpose")
	}
	m, b := c.Model, c.Rows
	for _, p := range []model.PredictionType{model.RawFormulaVal, m.Output().Serving()} {
		out := make([]float64, b.Rows*m.Output().Width(p))
		allocs := testing.AllocsPerRun(10, func() {
			if err := m.Predict(b, p, out); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v of %d rows: %v allocations per call", p, b.Rows, allocs)
		}
	}
}

// RowsAround returns n rows for schema s whose float values fall on, just
// beside and between the split thresholds of each feature (thresholds by
// float Index, as the backends' SplitThresholds report them), with a tenth
// of them missing (NaN); categorical values are drawn from cats.
func RowsAround(rng *rand.Rand, s *model.Schema, thresholds [][]float64, cats []string, n int) *model.Batch {
	b := model.NewBatch(s, n)
	for range n {
		floats, cs := b.AppendRow()
		for i := range floats {
			var ts []float64
			if i < len(thresholds) {
				ts = thresholds[i]
			}
			switch {
			case rng.IntN(10) == 0:
				floats[i] = math.NaN()
			case len(ts) == 0:
				floats[i] = rng.NormFloat64() * 10
			default:
				t := ts[rng.IntN(len(ts))]
				switch rng.IntN(4) {
				case 0:
					floats[i] = t
				case 1:
					floats[i] = math.Nextafter(t, math.Inf(-1))
				case 2:
					floats[i] = math.Nextafter(t, math.Inf(1))
				default:
					floats[i] = t + rng.NormFloat64()*(1+math.Abs(t))
				}
			}
		}
		for i := range cs {
			if len(cats) > 0 {
				cs[i] = cats[rng.IntN(len(cats))]
			}
		}
	}
	return b
}
