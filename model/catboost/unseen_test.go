package catboost

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
)

// unseenFlags returns Unseen's flags for rows of one categorical value each
// (floats left missing) of a model with one categorical feature.
func unseenFlags(t *testing.T, m *Model, values []string) []bool {
	t.Helper()
	b := model.NewBatch(m.Schema(), len(values))
	for _, v := range values {
		_, cats := b.AppendRow()
		for j := range cats {
			cats[j] = v
		}
	}
	out := make([]bool, b.Rows*b.NumCat)
	if err := m.Unseen(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUnseenOneHot: one-hot fixtures whose model files list the hashes of
// the training categories. A value is flagged exactly when its hash is not
// in the file's list; the expectations name the categories the fixtures
// were trained on (their descriptions and cases) and values they were not.
func TestUnseenOneHot(t *testing.T) {
	dir := fixtureDir(t)
	for _, tc := range []struct {
		folder       string
		seen, unseen []string
	}{
		{"gocb-unknown-cat", []string{"alpha", "beta", "gamma", "delta"}, []string{"zzzunknown", "NEW_VALUE", "Alpha", ""}},
		{"gocb-cat-onehot-small", []string{"bird", "cat", "dog", "fish"}, []string{"Cat", "cat ", "horse"}},
	} {
		for _, file := range []string{"model.json.gz", "model.cbm"} {
			t.Run(tc.folder+"/"+file, func(t *testing.T) {
				m, err := LoadFile(filepath.Join(dir, tc.folder, file))
				if err != nil {
					t.Fatal(err)
				}
				values := m.Definition().OneHotFeatures[0].Values
				for _, s := range tc.seen {
					if !slices.Contains(values, int32(CatHash(s))) {
						t.Fatalf("the model file does not list %q: the expectation is wrong", s)
					}
				}
				flags := unseenFlags(t, m, append(slices.Clone(tc.seen), tc.unseen...))
				for i, f := range flags {
					if want := i >= len(tc.seen); f != want {
						t.Errorf("value %q flagged %v, want %v", append(tc.seen, tc.unseen...)[i], f, want)
					}
				}
			})
		}
	}
}

// TestUnseenCtr: CTR fixtures. The expectation comes from the model file's
// tables: a value is seen when some table over the feature alone holds the
// key of its hash (§3.4); rwg-churn-mixed has two categorical features,
// each with its own tables.
func TestUnseenCtr(t *testing.T) {
	dir := fixtureDir(t)
	for _, tc := range []struct {
		path   string
		values []string
	}{
		{"gocb-ctr-binary/model.json.gz", []string{"A", "B", "E", "F", "G", "H", "a", "Z", "zzz-never"}},
		{"rwg-churn-mixed/model.cbm", []string{"free", "pro", "premium", "US", "EU", "APAC", "Free", "LATAM", ""}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			m, err := LoadFile(filepath.Join(dir, tc.path))
			if err != nil {
				t.Fatal(err)
			}
			d := m.Definition()
			inTables := func(j int, s string) bool {
				key := mixHash(0, catHashKey(CatHash(s)))
				for _, tb := range d.CtrTables {
					p := tb.Base.Projection
					if len(p.CatFeatures) == 1 && p.CatFeatures[0] == j && len(p.FloatSplits)+len(p.OneHotSplits) == 0 {
						if _, ok := tb.Index[key]; ok {
							return true
						}
					}
				}
				return false
			}
			b := model.NewBatch(m.Schema(), len(tc.values))
			for _, v := range tc.values {
				_, cats := b.AppendRow()
				for j := range cats {
					cats[j] = v
				}
			}
			flags := make([]bool, b.Rows*b.NumCat)
			if err := m.Unseen(b, flags); err != nil {
				t.Fatal(err)
			}
			flagged, seen := 0, 0
			for r, v := range tc.values {
				for j := range b.NumCat {
					want := !inTables(j, v)
					if flags[r*b.NumCat+j] != want {
						t.Errorf("value %q of feature %d: flagged %v, the tables say %v", v, j, flags[r*b.NumCat+j], want)
					}
					if want {
						flagged++
					} else {
						seen++
					}
				}
			}
			if flagged == 0 || seen == 0 {
				t.Errorf("%d values flagged, %d seen: the case tests nothing", flagged, seen)
			}
		})
	}
}

// TestUnseenMatchesPrior: on random models, a flagged feature behaves as
// unseen in the model: replacing its value by another unseen one never
// changes the prediction.
func TestUnseenMatchesPrior(t *testing.T) {
	cfg := DefaultRandomConfig()
	cfg.MaxProjection = 1 // single-feature tables: flags are exact
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 3))
		d := Random(rng, cfg)
		m, err := Compile(d)
		if err != nil {
			t.Fatal(err)
		}
		b := RandomBatch(rng, d, 200)
		flags := make([]bool, b.Rows*b.NumCat)
		if err := m.Unseen(b, flags); err != nil {
			t.Fatal(err)
		}
		raw := make([]float64, b.Rows*d.ApproxDimension)
		if err := m.Predict(b, model.RawFormulaVal, raw); err != nil {
			t.Fatal(err)
		}
		changed := *b
		changed.Cats = slices.Clone(b.Cats)
		n := 0
		for i, f := range flags {
			if f {
				changed.Cats[i] = "never-in-training"
				n++
			}
		}
		if n == 0 {
			t.Fatalf("seed %d: nothing flagged", seed)
		}
		raw2 := make([]float64, len(raw))
		if err := m.Predict(&changed, model.RawFormulaVal, raw2); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(raw, raw2) {
			t.Errorf("seed %d: replacing flagged values by another unseen one changed predictions", seed)
		}
	}
}

func TestUnseenBatchErrors(t *testing.T) {
	d := Random(rand.New(rand.NewPCG(1, 1)), DefaultRandomConfig())
	m, err := Compile(d)
	if err != nil {
		t.Fatal(err)
	}
	b := RandomBatch(rand.New(rand.NewPCG(2, 2)), d, 4)
	if err := m.Unseen(b, make([]bool, 4*b.NumCat-1)); err == nil {
		t.Error("short output accepted")
	}
}

// TestUnseenIsTheFileCommentsRule checks Unseen against its rule read
// literally, on random models with CTRs over combinations and one-hot
// features: a value is seen when it is one of the feature's one-hot values
// or when any table whose projection includes the feature has the row's
// key, every table looked up for every row. Unseen looks tables up lazily,
// smaller projections first, and stops at the first that has the row; the
// flags must not change. (Written beside the code it checks: the literal
// rule is the specification, the lazy walk an optimisation.)
func TestUnseenIsTheFileCommentsRule(t *testing.T) {
	cfg := DefaultRandomConfig()
	cfg.MaxProjection = 3
	checked := 0
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 11))
		d := Random(rng, cfg)
		m, err := Compile(d)
		if err != nil {
			t.Fatal(err)
		}
		b := RandomBatch(rng, d, 300)
		got := make([]bool, b.Rows*b.NumCat)
		if err := m.Unseen(b, got); err != nil {
			t.Fatal(err)
		}
		e := m.ev
		hashes := make([]uint32, len(e.hashed))
		for r := range b.Rows {
			floats, cats := b.Floats[r*b.NumFloat:(r+1)*b.NumFloat], b.Cats[r*b.NumCat:(r+1)*b.NumCat]
			for p, j := range e.hashed {
				hashes[p] = CatHash(cats[j])
			}
			for _, u := range m.unseen {
				seen := slices.Contains(u.oneHots, int32(hashes[u.hashed]))
				for bi := range e.bases {
					base := &e.bases[bi]
					if slices.Contains(base.cats, u.hashed) && base.table.lookup(e.projectionHash(base, floats, hashes)) != nil {
						seen = true
					}
				}
				if got[r*b.NumCat+u.index] != !seen {
					t.Fatalf("seed %d row %d feature %d: Unseen says %v, the rule %v", seed, r, u.index, got[r*b.NumCat+u.index], !seen)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no categorical feature checked")
	}
}

// TestPredictUnseenIsPredictAndUnseen: the one-pass PredictUnseen gives
// Predict's values and Unseen's flags (Unseen is checked against its rule
// above), bit for bit, on random models of every shape it handles apart:
// oblivious trees (block and row paths), non-symmetric trees, more CTR
// tables than one word of hits records, and batches that end mid-block.
func TestPredictUnseenIsPredictAndUnseen(t *testing.T) {
	shapes := map[string]func(*RandomConfig){
		"oblivious":     func(c *RandomConfig) {},
		"combinations":  func(c *RandomConfig) { c.MaxProjection = 3; c.OneHotFeatures = 2 },
		"non-symmetric": func(c *RandomConfig) { c.Symmetric = false },
		"multiclass":    func(c *RandomConfig) { c.Dimension = 3 },
		"many tables":   func(c *RandomConfig) { c.Ctrs = 300; c.CatFeatures = 10; c.MaxProjection = 3; c.Trees = 100 },
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultRandomConfig()
			shape(&cfg)
			flagged := 0
			for seed := range uint64(4) {
				rng := rand.New(rand.NewPCG(seed, 21))
				d := Random(rng, cfg)
				m, err := Compile(d)
				if err != nil {
					t.Fatal(err)
				}
				if name == "many tables" && len(m.ev.bases) <= maxHitBases {
					t.Fatalf("%d CTR tables: the shape does not pass one word of hits", len(m.ev.bases))
				}
				for _, rows := range []int{1, 3, blockRows, blockRows + 37, 2*blockRows + 5} {
					b := RandomBatch(rng, d, rows)
					want := make([]float64, rows*d.ApproxDimension)
					if err := m.Predict(b, model.RawFormulaVal, want); err != nil {
						t.Fatal(err)
					}
					wantFlags := make([]bool, rows*b.NumCat)
					if err := m.Unseen(b, wantFlags); err != nil {
						t.Fatal(err)
					}
					got := make([]float64, len(want))
					gotFlags := make([]bool, len(wantFlags))
					for i := range gotFlags {
						gotFlags[i] = i%2 == 0 // stale flags must be cleared
					}
					if err := m.PredictUnseen(b, model.RawFormulaVal, got, gotFlags); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(math64bits(got), math64bits(want)) {
						t.Fatalf("seed %d, %d rows: PredictUnseen's values differ from Predict's", seed, rows)
					}
					if !slices.Equal(gotFlags, wantFlags) {
						t.Fatalf("seed %d, %d rows: PredictUnseen's flags differ from Unseen's", seed, rows)
					}
					for _, f := range wantFlags {
						if f {
							flagged++
						}
					}
				}
			}
			if flagged == 0 {
				t.Fatal("no value flagged: the comparison saw only seen values")
			}
		})
	}
}

// math64bits returns the bit patterns of xs, so that equal NaNs compare
// equal.
func math64bits(xs []float64) []uint64 {
	out := make([]uint64, len(xs))
	for i, x := range xs {
		out[i] = math.Float64bits(x)
	}
	return out
}

func TestPredictUnseenErrors(t *testing.T) {
	d := Random(rand.New(rand.NewPCG(1, 1)), DefaultRandomConfig())
	m, err := Compile(d)
	if err != nil {
		t.Fatal(err)
	}
	b := RandomBatch(rand.New(rand.NewPCG(2, 2)), d, 4)
	if err := m.PredictUnseen(b, model.RawFormulaVal, make([]float64, 4), make([]bool, 4*b.NumCat-1)); !errors.Is(err, ErrBatch) {
		t.Errorf("short flags: %v, want ErrBatch", err)
	}
	if err := m.PredictUnseen(b, model.RawFormulaVal, make([]float64, 3), make([]bool, 4*b.NumCat)); !errors.Is(err, ErrBatch) {
		t.Errorf("short output: %v, want ErrBatch", err)
	}
}
