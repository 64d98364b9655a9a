package catboost

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
)

// subBatch is rows [start, start+n) of b, sharing its storage.
func subBatch(b *model.Batch, start, n int) *model.Batch {
	return &model.Batch{
		Rows: n, NumFloat: b.NumFloat, NumCat: b.NumCat,
		Floats: b.Floats[start*b.NumFloat : (start+n)*b.NumFloat],
		Cats:   b.Cats[start*b.NumCat : (start+n)*b.NumCat],
	}
}

// referenceBatch returns referenceRaw for every row of b, row-major.
func referenceBatch(d *Definition, b *model.Batch) []float64 {
	out := make([]float64, 0, b.Rows*d.ApproxDimension)
	for r := range b.Rows {
		f, c := b.Row(r)
		out = append(out, referenceRaw(d, f, c)...)
	}
	return out
}

// sameBits reports whether a and b are the same float64, treating -0 and +0
// as equal and NaN as equal to NaN.
func sameBits(a, b float64) bool {
	return a == b || (a != a && b != b)
}

// edgeRows appends rows that sit exactly on borders, on their float32
// neighbours and on float64 values that round onto a border.
func edgeRows(rng *rand.Rand, d *Definition, b *model.Batch, n int) {
	for range n {
		floats, cats := b.AppendRow()
		for _, f := range d.FloatFeatures {
			if len(f.Borders) == 0 {
				floats[f.Index] = rng.NormFloat64()
				continue
			}
			bd := f.Borders[rng.IntN(len(f.Borders))]
			switch rng.IntN(5) {
			case 0:
				floats[f.Index] = float64(bd)
			case 1:
				floats[f.Index] = float64(math.Nextafter32(bd, float32(math.Inf(1))))
			case 2:
				floats[f.Index] = float64(math.Nextafter32(bd, float32(math.Inf(-1))))
			case 3:
				// A float64 just above the border that rounds to it in float32:
				// must compare equal (false), not greater.
				floats[f.Index] = math.Nextafter(float64(bd), math.Inf(1))
			default:
				floats[f.Index] = math.NaN()
			}
		}
		for j := range cats {
			cats[j] = randomCategory(rng.IntN(5))
		}
	}
}

// TestDifferentialRandom checks the fast evaluator against the reference, bit
// for bit, on random models of every shape at batch sizes 1..70, 1024 and a
// batch crossing the block boundary.
func TestDifferentialRandom(t *testing.T) {
	seeds := uint64(6)
	if testing.Short() {
		seeds = 2
	}
	for name, cfg := range randomConfigs() {
		for seed := range seeds {
			t.Run(fmt.Sprintf("%s/seed=%d", name, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 99))
				d := Random(rng, cfg)
				if seed%2 == 1 {
					// AsTrue without HasNans: the gate must win, NaN → false.
					for i := range d.FloatFeatures {
						if !d.FloatFeatures[i].HasNans {
							d.FloatFeatures[i].NanTreatment = NanAsTrue
						}
					}
				}
				m, err := Compile(d)
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				b := RandomBatch(rng, d, blockRows+60)
				edgeRows(rng, d, b, 40)
				want := referenceBatch(d, b)
				checkRaw(t, m, b, want)
			})
		}
	}
}

// checkRaw predicts b at several batch sizes and compares with want.
func checkRaw(t *testing.T, m *Model, b *model.Batch, want []float64) {
	t.Helper()
	dim := m.Output().Dimension
	got := make([]float64, b.Rows*dim)
	compare := func(start, n int) {
		t.Helper()
		out := got[start*dim : (start+n)*dim]
		if err := m.Predict(subBatch(b, start, n), model.RawFormulaVal, out); err != nil {
			t.Fatalf("predict rows %d+%d: %v", start, n, err)
		}
		for i, v := range out {
			if w := want[start*dim+i]; !sameBits(v, w) {
				t.Fatalf("batch of %d at row %d: row %d dim %d = %v, reference %v", n, start, start+i/dim, i%dim, v, w)
			}
		}
	}
	for n := 1; n <= 70; n++ {
		for start := 0; start+n <= b.Rows && start < 3*n; start += n {
			compare(start, n)
		}
	}
	compare(b.Rows-blockRows, blockRows)
	compare(0, b.Rows)
}

// TestPredictionTypes checks every prediction type against its formula on
// the reference's raw values.
func TestPredictionTypes(t *testing.T) {
	for _, dim := range []int{1, 3} {
		for _, loss := range []string{"Logloss", "RMSE", "MultiClass", "MultiLogloss", "MultiClassOneVsAll"} {
			if (dim == 1) != (loss == "Logloss" || loss == "RMSE") {
				continue
			}
			cfg := DefaultRandomConfig()
			cfg.Dimension, cfg.Loss = dim, loss
			rng := rand.New(rand.NewPCG(uint64(dim), 5))
			d := Random(rng, cfg)
			m, err := Compile(d)
			if err != nil {
				t.Fatal(err)
			}
			b := RandomBatch(rng, d, 50)
			raw := referenceBatch(d, b)
			o := m.Output()
			for _, p := range []model.PredictionType{model.RawFormulaVal, model.Probability, model.Class, model.Exponent, model.MultiProbability} {
				out := make([]float64, b.Rows*o.Width(p))
				err := m.Predict(b, p, out)
				if o.Task == model.Regression && p == model.Class {
					if err == nil {
						t.Errorf("%s: Class on a regressor did not fail", loss)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s %v: %v", loss, p, err)
				}
				w := o.Width(p)
				for r := range b.Rows {
					want := expectedType(o, p, raw[r*dim:(r+1)*dim], loss)
					for k := range w {
						if math.Abs(out[r*w+k]-want[k]) > 1e-15*math.Max(1, math.Abs(want[k])) {
							t.Fatalf("%s %v row %d: %v, want %v", loss, p, r, out[r*w:(r+1)*w], want)
						}
					}
				}
			}
		}
	}
}

// expectedType computes a prediction type from raw values the slow way.
func expectedType(o model.Output, p model.PredictionType, raw []float64, loss string) []float64 {
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	var out []float64
	switch p {
	case model.RawFormulaVal:
		out = append(out, raw...)
	case model.Exponent:
		for _, v := range raw {
			out = append(out, math.Exp(v))
		}
	case model.MultiProbability:
		for _, v := range raw {
			out = append(out, sig(v))
		}
	case model.Probability:
		if len(raw) == 1 || loss == "MultiLogloss" || loss == "MultiClassOneVsAll" {
			for _, v := range raw {
				out = append(out, sig(v))
			}
			break
		}
		var sum float64
		m := math.Inf(-1)
		for _, v := range raw {
			m = math.Max(m, v)
		}
		for _, v := range raw {
			sum += math.Exp(v - m)
		}
		for _, v := range raw {
			out = append(out, math.Exp(v-m)/sum)
		}
	case model.Class:
		switch o.Task {
		case model.MultiClassification:
			best := 0
			for k := range raw {
				if raw[k] > raw[best] {
					best = k
				}
			}
			out = append(out, float64(best))
		default:
			for _, v := range raw {
				if sig(v) > o.ProbabilityThreshold {
					out = append(out, 1)
				} else {
					out = append(out, 0)
				}
			}
		}
	}
	return out
}

// TestPredictConcurrent runs Predict from several goroutines on one Model
// (run with -race) and checks every result.
func TestPredictConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	d := Random(rng, DefaultRandomConfig())
	m, err := Compile(d)
	if err != nil {
		t.Fatal(err)
	}
	b := RandomBatch(rng, d, 300)
	want := referenceBatch(d, b)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]float64, b.Rows)
			for i := range 20 {
				n := 1 + (g*7+i*13)%b.Rows
				if err := m.Predict(subBatch(b, 0, n), model.RawFormulaVal, out[:n]); err != nil {
					errs <- err
					return
				}
				for r := range n {
					if !sameBits(out[r], want[r]) {
						errs <- fmt.Errorf("goroutine %d batch %d row %d: %v, want %v", g, n, r, out[r], want[r])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPredictErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	cfg := DefaultRandomConfig()
	cfg.Loss = "RMSE"
	d := Random(rng, cfg)
	m, err := Compile(d)
	if err != nil {
		t.Fatal(err)
	}
	b := RandomBatch(rng, d, 3)
	if err := m.Predict(b, model.RawFormulaVal, make([]float64, 2)); !errorsIs(err, ErrBatch) {
		t.Errorf("short output: %v", err)
	}
	bad := *b
	bad.NumFloat++
	if err := m.Predict(&bad, model.RawFormulaVal, make([]float64, 3)); !errorsIs(err, ErrBatch) {
		t.Errorf("wrong shape: %v", err)
	}
	if err := m.Predict(b, model.Class, make([]float64, 3)); !errorsIs(err, ErrPredictionType) {
		t.Errorf("Class on a regressor: %v", err)
	}
	if err := m.Predict(b, model.PredictionType(99), make([]float64, 3)); !errorsIs(err, ErrPredictionType) {
		t.Errorf("unknown type: %v", err)
	}
	empty := &model.Batch{NumFloat: b.NumFloat, NumCat: b.NumCat}
	if err := m.Predict(empty, model.RawFormulaVal, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

func errorsIs(err, target error) bool { return err != nil && errors.Is(err, target) }

// FuzzPredictMatchesReference draws a model shape and a seed from the fuzz
// input and checks the fast evaluator against the reference on random rows,
// whole batch and row by row.
func FuzzPredictMatchesReference(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint16(0))
	f.Add(uint64(3), uint64(4), uint16(0xFFFF))
	f.Add(uint64(5), uint64(6), uint16(0x5A5A))
	f.Fuzz(func(t *testing.T, s1, s2 uint64, shape uint16) {
		rng := rand.New(rand.NewPCG(s1, s2))
		cfg := DefaultRandomConfig()
		cfg.Trees = 1 + int(shape%7)
		cfg.Depth = 1 + int(shape>>3%10)
		cfg.Symmetric = shape&0x80 == 0
		cfg.Dimension = 1 + int(shape>>8%4)
		cfg.TargetClasses = 2 + int(shape>>10%3)
		cfg.CatFeatures = int(shape >> 12 % 4)
		cfg.OneHotFeatures = min(cfg.CatFeatures, 1)
		cfg.BordersPerFeature = 1 + rng.IntN(300)
		cfg.ProjectionSplits = shape&0x8000 != 0
		d := Random(rng, cfg)
		m, err := Compile(d)
		if err != nil {
			t.Fatalf("compile: %v", err)
		}
		b := RandomBatch(rng, d, rng.IntN(80))
		edgeRows(rng, d, b, 8)
		want := referenceBatch(d, b)
		dim := d.ApproxDimension
		got := make([]float64, b.Rows*dim)
		if err := m.Predict(b, model.RawFormulaVal, got); err != nil {
			t.Fatal(err)
		}
		for r := range b.Rows {
			one := make([]float64, dim)
			if err := m.Predict(subBatch(b, r, 1), model.RawFormulaVal, one); err != nil {
				t.Fatal(err)
			}
			for k := range dim {
				if w := want[r*dim+k]; !sameBits(got[r*dim+k], w) || !sameBits(one[k], w) {
					t.Fatalf("row %d dim %d: batch %v, single %v, reference %v", r, k, got[r*dim+k], one[k], w)
				}
			}
		}
	})
}

// TestBinarizer checks bin(key(v)) = #{borders b : v > b} on border sets
// that stress the bucket table: clusters far from an outlier (the table
// grows), a single border, a full column, ±0, subnormals, huge magnitudes.
func TestBinarizer(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	sets := map[string][]float32{
		"single":    {0.5},
		"zeros":     {float32(math.Copysign(0, -1)), 1},
		"subnormal": {-1e-45, 1e-45, 1e-40},
		"huge":      {-3e38, -1, 1, 3e38},
	}
	cluster := []float32{1e30}
	for i := range 120 {
		cluster = append(cluster, 0.5+float32(i)*1e-6)
	}
	sets["cluster+outlier"] = cluster
	var full []float32
	for i := range maxColumnBorders {
		full = append(full, float32(rng.NormFloat64()*float64(i+1)))
	}
	sets["full"] = full
	for name, bs := range sets {
		bs = sortedUniqueBorders(bs)
		z := newBinarizer(bs)
		probe := []float32{float32(math.Inf(-1)), float32(math.Inf(1)), 0, float32(math.Copysign(0, -1))}
		for _, b := range bs {
			probe = append(probe, b, math.Nextafter32(b, float32(math.Inf(1))), math.Nextafter32(b, float32(math.Inf(-1))))
		}
		for range 2000 {
			probe = append(probe, bs[rng.IntN(len(bs))]*float32(1+rng.NormFloat64()*1e-3), float32(rng.NormFloat64()*1e3))
		}
		for _, v := range probe {
			want := 0
			for _, b := range bs {
				if v > b {
					want++
				}
			}
			if got := z.bin(orderedKey(v)); int(got) != want {
				t.Fatalf("%s: bin(%v) = %d, want %d (span %d)", name, v, got, want, z.span)
			}
		}
	}
}

func ExampleCompile() {
	rng := rand.New(rand.NewPCG(1, 2))
	cfg := DefaultRandomConfig()
	cfg.Loss = "Logloss"
	d := Random(rng, cfg) // or Decode(modelBytes)
	m, err := Compile(d)
	if err != nil {
		fmt.Println(err)
		return
	}
	o := m.Output()
	b := RandomBatch(rng, d, 3) // or model.NewBatch(m.Schema(), n) and AppendRow
	out := make([]float64, b.Rows*o.Width(model.Probability))
	if err := m.Predict(b, model.Probability, out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(o.Task, o.ClassLabels, len(out))
	for _, p := range out {
		fmt.Println(p > 0 && p < 1)
	}
	// Output:
	// binary [0 1] 3
	// true
	// true
	// true
}

// TestAboveIsStrictCompare checks the depth-8 row path's compare-free test,
// above(v, b), against Go's own v > b: on every pair of edge values (signed
// zeros, subnormals, neighbours, extremes, infinities) and on random bit
// patterns. v is anything but NaN; b is finite and never -0, as compile
// guarantees.
func TestAboveIsStrictCompare(t *testing.T) {
	inf := float32(math.Inf(1))
	edges := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, math.SmallestNonzeroFloat32,
		-math.SmallestNonzeroFloat32, 2 * math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32,
		math.Nextafter32(1, 2), math.Nextafter32(1, 0), 1e-38, -1e-38, 3.4e38, inf, -inf}
	check := func(v, b float32) {
		t.Helper()
		if b != b || math.IsInf(float64(b), 0) || v != v {
			return
		}
		b += 0 // compile stores -0 as +0
		if got, want := above(v, b), b2u(v > b); got != want {
			t.Fatalf("above(%g [%#x], %g [%#x]) = %d, want %d", v, math.Float32bits(v), b, math.Float32bits(b), got, want)
		}
	}
	for _, v := range edges {
		for _, b := range edges {
			check(v, b)
			check(v, math.Nextafter32(b, inf))
			check(v, math.Nextafter32(b, -inf))
		}
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for range 1_000_000 {
		v, b := math.Float32frombits(rng.Uint32()), math.Float32frombits(rng.Uint32())
		check(v, b)
		check(v, math.Float32frombits(math.Float32bits(v)+uint32(rng.IntN(5))-2))
	}
}

// TestNegativeZeroBorder checks that a border stored as -0 (which CatBoost
// compares as equal to +0) gives the reference's outcomes for ±0 inputs in
// every path, at depth 6 and 8.
func TestNegativeZeroBorder(t *testing.T) {
	for _, depth := range []int{6, 8} {
		t.Run(fmt.Sprintf("depth=%d", depth), func(t *testing.T) {
			cfg := DefaultRandomConfig()
			cfg.Depth, cfg.Trees, cfg.CatFeatures = depth, 30, 0
			rng := rand.New(rand.NewPCG(uint64(depth), 5))
			d := Random(rng, cfg)
			// Evenly spaced borders with -0 in the middle: same count, so the
			// trees' split indexes keep pointing at the same positions.
			for i := range d.FloatFeatures {
				f := &d.FloatFeatures[i]
				mid := len(f.Borders) / 2
				for k := range f.Borders {
					f.Borders[k] = float32(k - mid)
				}
				if len(f.Borders) > 0 {
					f.Borders[mid] = float32(math.Copysign(0, -1))
				}
			}
			d.Splits = d.BinFeatures()
			m, err := Compile(d)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			// The first rows are the ones checkRaw also predicts in small
			// batches (the row path): make them all signed zeros and friends.
			b := RandomBatch(rng, d, blockRows+60)
			special := []float64{0, math.Copysign(0, -1), 1e-45, -1e-45, 1, -1, math.Inf(1), math.Inf(-1)}
			for i := range b.Floats[:300*b.NumFloat] {
				b.Floats[i] = special[rng.IntN(len(special))]
			}
			checkRaw(t, m, b, referenceBatch(d, b))
		})
	}
}
