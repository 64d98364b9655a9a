package train

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
)

// synthetic returns n rows whose label depends on a float (x > 0 raises
// the odds), a one-hot category ("a" lowers them), a high-cardinality
// category (each of 40 values has its own effect) and nothing else; x is
// missing now and then.
func synthetic(n int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := NewDataset([]Feature{{Name: "x"}, {Name: "small", Categorical: true}, {Name: "noise"}, {Name: "big", Categorical: true}})
	for range n {
		x := rng.NormFloat64()
		small := []string{"a", "b", "c"}[rng.IntN(3)]
		big := rng.IntN(40)
		z := 1.5*x + float64(big%7)/3 - 1
		if small == "a" {
			z -= 1
		}
		if rng.Float64() < 0.05 {
			x = math.NaN()
		}
		var y float64
		if rng.Float64() < 1/(1+math.Exp(-z)) {
			y = 1
		}
		d.Append([]float64{x, rng.Float64()}, []string{small, "v" + strconv.Itoa(big)}, y)
	}
	return d
}

func smallConfig() Config {
	c := DefaultConfig()
	c.Iterations = 30
	c.Depth = 4
	c.LearningRate = 0.2
	return c
}

func TestTrainLearns(t *testing.T) {
	d := synthetic(5000, 1)
	m, err := Train(d, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	test := synthetic(5000, 2)
	p := make([]float64, test.Rows())
	for r := range p {
		p[r] = m.Predict([]float64{test.Floats[0][r], test.Floats[1][r]}, []string{test.Cats[0][r], test.Cats[1][r]})
	}
	auc := AUC(p, test.Labels)
	// The true probabilities score an AUC of 0.833 on this sample (1.5 x dominates); a
	// constant scores 0.5.
	if auc < 0.8 {
		t.Errorf("held-out AUC %.3f, want >= 0.8", auc)
	}
	def, err := m.Definition()
	if err != nil {
		t.Fatal(err)
	}
	if err := def.Validate(); err != nil {
		t.Fatalf("definition does not validate: %v", err)
	}
	if len(def.OneHotFeatures) == 0 || len(def.Ctrs) == 0 {
		t.Errorf("want one-hot and CTR features, got %d and %d", len(def.OneHotFeatures), len(def.Ctrs))
	}
	if !def.FloatFeatures[0].HasNans {
		t.Error("x has missing values but HasNans is false")
	}
	// Stored CTR counts cover every training row once.
	var total int32
	for _, c := range def.CtrTables[0].Counters {
		total += c
	}
	if int(total) != d.Rows() {
		t.Errorf("CTR table counts %d rows, want %d", total, d.Rows())
	}
}

func TestTrainDeterministic(t *testing.T) {
	d := synthetic(3000, 3)
	c1, c2 := smallConfig(), smallConfig()
	c1.Workers, c2.Workers = 1, 3
	m1, err := Train(d, c1)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Train(d, c2)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := m1.Definition()
	d2, _ := m2.Definition()
	if !reflect.DeepEqual(d1, d2) {
		t.Fatal("training with 1 and 3 workers gave different models")
	}
}

func TestTrainRejects(t *testing.T) {
	bad := DefaultConfig()
	bad.Depth = 9
	if _, err := Train(synthetic(100, 1), bad); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("depth 9: %v, want ErrInvalidConfig", err)
	}
	d := synthetic(100, 1)
	d.Labels[3] = 2
	if _, err := Train(d, smallConfig()); !errors.Is(err, ErrInvalidData) {
		t.Errorf("label 2: %v, want ErrInvalidData", err)
	}
	d = synthetic(100, 1)
	for i := range d.Labels {
		d.Labels[i] = 0
	}
	if _, err := Train(d, smallConfig()); !errors.Is(err, ErrInvalidData) {
		t.Errorf("one class: %v, want ErrInvalidData", err)
	}
	d = synthetic(100, 1)
	d.Cats[1] = d.Cats[1][:50]
	if _, err := Train(d, smallConfig()); !errors.Is(err, ErrInvalidData) {
		t.Errorf("short column: %v, want ErrInvalidData", err)
	}
}

func TestQuantileBorders(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]float32, 10000)
	for i := range vals {
		vals[i] = float32(math.Round(rng.ExpFloat64()*100) / 10)
	}
	vals[7] = float32(math.NaN())
	b := quantileBorders(vals, 32)
	if len(b) == 0 || len(b) > 32 {
		t.Fatalf("%d borders", len(b))
	}
	for i := 1; i < len(b); i++ {
		if !(b[i] > b[i-1]) {
			t.Fatalf("borders not strictly ascending at %d: %v", i, b)
		}
	}
	// Every bin holds a share near 1/33 except where ties force more.
	counts := make([]int, len(b)+1)
	for _, v := range vals {
		counts[bin(v, b)]++
	}
	for i, c := range counts {
		if c == 0 {
			t.Errorf("bin %d is empty", i)
		}
	}
	// Few distinct values: one border between each pair.
	b = quantileBorders([]float32{3, 1, 2, 2, 1}, 10)
	if want := []float32{1.5, 2.5}; !reflect.DeepEqual(b, want) {
		t.Errorf("borders %v, want %v", b, want)
	}
	// Adjacent float32 values: the border is the lower one, still separating.
	lo := float32(1)
	hi := math.Nextafter32(lo, 2)
	if b := quantileBorders([]float32{lo, hi}, 4); len(b) != 1 || !(hi > b[0]) || lo > b[0] {
		t.Errorf("adjacent values: borders %v", b)
	}
}

func TestBin(t *testing.T) {
	b := []float32{-1, 0, 2.5}
	cases := []struct {
		v    float32
		want uint8
	}{{-2, 0}, {-1, 0}, {-0.5, 1}, {0, 1}, {2.5, 2}, {3, 3}, {float32(math.NaN()), 0}}
	for _, c := range cases {
		if got := bin(c.v, b); got != c.want {
			t.Errorf("bin(%v) = %d, want %d (strict >, NaN below all)", c.v, got, c.want)
		}
	}
	if nb := nanBorder([]float32{5, 3, float32(math.NaN())}); !(nb < 3) {
		t.Errorf("nanBorder %v not below the minimum 3", nb)
	}
}

func TestCtrValue(t *testing.T) {
	p := ctrParams{PriorNum: 0.72, PriorDenom: 4, Shift: 0, Scale: 1}
	// (3 + 0.72) / (10 + 4) in float32.
	want := (float32(3) + float32(0.72)) / (float32(10) + float32(4))
	if got := p.value(3, 10); got != want {
		t.Errorf("value(3, 10) = %v, want %v", got, want)
	}
	if got := p.value(0, 0); got != float32(0.72)/4 {
		t.Errorf("value(0, 0) = %v, want the prior %v", got, float32(0.72)/4)
	}
	// Out of fold: a category seen only in the row's own fold gets the prior.
	codes := []int32{0, 0, 1}
	labels := []float64{1, 0, 1}
	folds := []uint8{0, 1, 0}
	v := outOfFoldCtr(codes, 2, labels, folds, 2, p)
	if v[0] != p.value(0, 1) || v[1] != p.value(1, 1) || v[2] != p.value(0, 0) {
		t.Errorf("out-of-fold CTRs %v", v)
	}
}

func TestMetrics(t *testing.T) {
	// Positives score 0.35 and 0.8, negatives 0.1 and 0.4: of the four
	// (positive, negative) pairs three are ordered right.
	if got := AUC([]float64{0.1, 0.4, 0.35, 0.8}, []float64{0, 0, 1, 1}); got != 0.75 {
		t.Errorf("AUC %v, want 0.75", got)
	}
	// Ties count one half.
	if got := AUC([]float64{0.5, 0.5}, []float64{0, 1}); got != 0.5 {
		t.Errorf("AUC of a tie %v, want 0.5", got)
	}
	want := -(math.Log(0.8) + math.Log(0.75)) / 2
	if got := LogLoss([]float64{0.8, 0.25}, []float64{1, 0}); math.Abs(got-want) > 1e-15 {
		t.Errorf("LogLoss %v, want %v", got, want)
	}
}
