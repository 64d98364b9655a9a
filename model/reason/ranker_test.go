package reason_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/loan"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

func demoModel(t testing.TB) model.Model {
	t.Helper()
	f, err := modelfile.Parse(demo.Name, demo.Bytes(), modelfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return f.Model
}

// loanBatch returns n generated applications as a batch of the demo model.
func loanBatch(n int, seed uint64) *model.Batch {
	g := loan.NewGenerator(seed)
	b := &model.Batch{NumFloat: 9, NumCat: 9}
	for range n {
		a := g.Next()
		floats, cats := b.AppendRow()
		a.Floats(floats)
		a.Cats(cats)
	}
	return b
}

// explainAll is the reference: model.Explain of the whole batch, called
// by the test on its own.
func explainAll(t *testing.T, m model.Model, b *model.Batch, dims int) []float64 {
	t.Helper()
	out := make([]float64, b.Rows*model.ExplanationWidth(m.Schema(), dims))
	if err := model.Explain(m, b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

type ref struct {
	flat int
	c    float64
}

// topK is the specification written out plainly: the features with a
// positive value, largest first (the lower flat index first on a tie),
// at most k of them.
func topK(vals []float64, k int) []ref {
	var pos []ref
	for i, v := range vals {
		if v > 0 {
			pos = append(pos, ref{i, v})
		}
	}
	sort.SliceStable(pos, func(i, j int) bool { return pos[i].c > pos[j].c })
	return pos[:min(k, len(pos))]
}

// TestReasonsAreTopKOfExplain: every row that asked gets the top K of the
// SHAP values model.Explain gives the same row in a batch of its own
// making, with its value as decoded; rows that did not ask get none.
func TestReasonsAreTopKOfExplain(t *testing.T) {
	m := demoModel(t)
	rk, err := reason.NewRanker(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := loanBatch(300, 1)
	want := make([]int, b.Rows)
	for r := range want {
		want[r] = []int{0, 1, 4, 18, 3, 0}[r%6]
	}
	notes := make([]reason.Note, b.Rows)
	if err := rk.Annotate(b, want, notes); err != nil {
		t.Fatal(err)
	}
	shap := explainAll(t, m, b, 1)
	per := len(m.Schema().Features) + 1
	s := m.Schema()
	checked := 0
	for r := range b.Rows {
		n := notes[r]
		if n.Asked != want[r] || n.Err != nil {
			t.Fatalf("row %d: asked %d err %v, want asked %d", r, n.Asked, n.Err, want[r])
		}
		if want[r] == 0 {
			if n.Reasons != nil {
				t.Fatalf("row %d did not ask and has reasons %v", r, n.Reasons)
			}
			continue
		}
		exp := topK(shap[r*per:(r+1)*per-1], want[r])
		if len(n.Reasons) != len(exp) {
			t.Fatalf("row %d: %d reasons, want %d", r, len(n.Reasons), len(exp))
		}
		floats, cats := b.Row(r)
		for i, e := range exp {
			got := n.Reasons[i]
			f := s.Features[e.flat]
			if got.Code != nil || len(got.Features) != 1 || got.Features[0].Name != f.Name || got.Contribution != e.c || got.Features[0].Contribution != e.c {
				t.Fatalf("row %d reason %d: %+v, want %s %v", r, i, got, f.Name, e.c)
			}
			v := got.Features[0]
			if f.Kind == model.Categorical && v.Category != cats[f.Index] ||
				f.Kind == model.Float && !(v.Number == floats[f.Index] || math.IsNaN(v.Number) && math.IsNaN(floats[f.Index])) {
				t.Fatalf("row %d reason %s: value %+v, want the row's", r, f.Name, v)
			}
			checked++
		}
	}
	if checked < 300 {
		t.Fatalf("only %d reasons checked", checked)
	}
}

// TestCodesSumTheirFeatures: with the demo's reason-code mapping
// (configs/reason-codes.yaml), a code's contribution is the sum of its
// features' SHAP values (added in flat order, as the ranker does: equal to
// the last bit), its features are the code's, and the codes come in the
// order of their sums.
func TestCodesSumTheirFeatures(t *testing.T) {
	m := demoModel(t)
	codes, err := reason.LoadCodes(filepath.Join(testkit.RepoRoot(t), "configs", "reason-codes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rk, err := reason.NewRanker(m, codes)
	if err != nil {
		t.Fatal(err)
	}
	if rk.Reasons() != len(codes.Codes) {
		t.Fatalf("%d reasons, want one per code (%d): the mapping covers every feature", rk.Reasons(), len(codes.Codes))
	}
	b := loanBatch(200, 2)
	want := slices.Repeat([]int{reason.MaxK(m.Schema())}, b.Rows)
	notes := make([]reason.Note, b.Rows)
	if err := rk.Annotate(b, want, notes); err != nil {
		t.Fatal(err)
	}
	shap := explainAll(t, m, b, 1)
	per := len(m.Schema().Features) + 1
	grouped := 0
	for r := range b.Rows {
		vals := shap[r*per : (r+1)*per]
		type sum struct {
			code string
			s    float64
		}
		var sums []sum
		for _, c := range codes.Codes {
			total := 0.0
			flats := []int{}
			for _, name := range c.Features {
				f, _ := m.Schema().Lookup(name)
				flats = append(flats, f.FlatIndex)
			}
			slices.Sort(flats)
			for _, fi := range flats {
				total += vals[fi]
			}
			if total > 0 {
				sums = append(sums, sum{c.Code, total})
			}
		}
		sort.SliceStable(sums, func(i, j int) bool { return sums[i].s > sums[j].s })
		got := notes[r].Reasons
		if len(got) != len(sums) {
			t.Fatalf("row %d: %d reasons, want %d codes with a positive sum", r, len(got), len(sums))
		}
		for i, g := range got {
			if g.Code == nil || g.Code.Code != sums[i].code || g.Contribution != sums[i].s {
				t.Fatalf("row %d reason %d: %+v, want code %s with %v", r, i, g, sums[i].code, sums[i].s)
			}
			names := []string{}
			for _, v := range g.Features {
				names = append(names, v.Name)
				f, _ := m.Schema().Lookup(v.Name)
				if v.Contribution != vals[f.FlatIndex] {
					t.Fatalf("row %d %s: contribution %v, want %v", r, v.Name, v.Contribution, vals[f.FlatIndex])
				}
			}
			if !sameSet(names, g.Code.Features) || !sort.SliceIsSorted(g.Features, func(a, b int) bool {
				fa, _ := m.Schema().Lookup(g.Features[a].Name)
				fb, _ := m.Schema().Lookup(g.Features[b].Name)
				return fa.FlatIndex < fb.FlatIndex
			}) {
				t.Fatalf("row %d code %s: features %v, want %v in flat order", r, g.Code.Code, names, g.Code.Features)
			}
			if len(g.Features) > 1 {
				grouped++
			}
		}
	}
	if grouped == 0 {
		t.Fatal("no code summed several features: the test saw nothing")
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func fixture(t *testing.T, name string) model.Model {
	t.Helper()
	dir := os.Getenv("CATBOOST_FIXTURES")
	if dir == "" {
		dir = filepath.Join(testkit.RepoRoot(t), "..", "shared", "fixtures", "catboost")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CatBoost fixture missing in CI: %v", err)
		}
		t.Skipf("CatBoost fixture missing: %v", err)
	}
	f, err := modelfile.Open(path, modelfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return f.Model
}

func floatBatch(m model.Model, n int, seed uint64) *model.Batch {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := model.NewBatch(m.Schema(), n)
	for range n {
		floats, _ := b.AppendRow()
		for i := range floats {
			floats[i] = rng.NormFloat64()
		}
	}
	return b
}

// TestMulticlassReasonsForPredictedClass: a multiclass model's reasons are
// the top of the predicted class's values; the class is taken here from
// Predict's Class output, not from the SHAP values.
func TestMulticlassReasonsForPredictedClass(t *testing.T) {
	m := fixture(t, "gocb-multiclass-3/model.cbm")
	rk, err := reason.NewRanker(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := floatBatch(m, 200, 3)
	class := make([]float64, b.Rows)
	if err := m.Predict(b, model.Class, class); err != nil {
		t.Fatal(err)
	}
	want := slices.Repeat([]int{2}, b.Rows)
	notes := make([]reason.Note, b.Rows)
	if err := rk.Annotate(b, want, notes); err != nil {
		t.Fatal(err)
	}
	shap := explainAll(t, m, b, 3)
	per := len(m.Schema().Features) + 1
	seen := map[int]bool{}
	for r := range b.Rows {
		d := int(class[r])
		seen[d] = true
		exp := topK(shap[(r*3+d)*per:(r*3+d+1)*per-1], 2)
		if len(notes[r].Reasons) != len(exp) {
			t.Fatalf("row %d: %d reasons, want %d", r, len(notes[r].Reasons), len(exp))
		}
		for i, e := range exp {
			if got := notes[r].Reasons[i]; got.Contribution != e.c || got.Features[0].Name != m.Schema().Features[e.flat].Name {
				t.Fatalf("row %d (class %d) reason %d: %+v, want %v", r, d, i, got, e)
			}
		}
	}
	if len(seen) < 2 {
		t.Fatalf("every row predicted the same class %v: the test cannot tell classes apart", seen)
	}
}

// TestRegressionReasonsRaiseThePrediction: a regressor's reasons are the
// features that raised its prediction most.
func TestRegressionReasonsRaiseThePrediction(t *testing.T) {
	m := fixture(t, "gocb-float-regression/model.cbm")
	rk, err := reason.NewRanker(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := floatBatch(m, 100, 4)
	want := slices.Repeat([]int{3}, b.Rows)
	notes := make([]reason.Note, b.Rows)
	if err := rk.Annotate(b, want, notes); err != nil {
		t.Fatal(err)
	}
	shap := explainAll(t, m, b, 1)
	per := len(m.Schema().Features) + 1
	for r := range b.Rows {
		exp := topK(shap[r*per:(r+1)*per-1], 3)
		if len(notes[r].Reasons) != len(exp) {
			t.Fatalf("row %d: %d reasons, want %d", r, len(notes[r].Reasons), len(exp))
		}
		for i, e := range exp {
			if notes[r].Reasons[i].Contribution != e.c {
				t.Fatalf("row %d reason %d: %v, want %v", r, i, notes[r].Reasons[i].Contribution, e.c)
			}
		}
	}
}

// TestMultiLabelHasNoOutcome: a multi-label model has no single outcome;
// the rows that ask get an error naming why, the others nothing.
func TestMultiLabelHasNoOutcome(t *testing.T) {
	m := fixture(t, "rwg-multilabel/model.cbm")
	rk, err := reason.NewRanker(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(rk.Explains(), reason.ErrNoOutcome) {
		t.Fatalf("Explains: %v, want ErrNoOutcome", rk.Explains())
	}
	b := floatBatch(m, 4, 5)
	notes := make([]reason.Note, b.Rows)
	if err := rk.Annotate(b, []int{1, 0, 2, 0}, notes); err != nil {
		t.Fatal(err)
	}
	for r, n := range notes {
		if (r%2 == 0) != errors.Is(n.Err, reason.ErrNoOutcome) || n.Reasons != nil {
			t.Fatalf("row %d: %+v", r, n)
		}
	}
}

// withoutLeafWeights returns the demo model with its leaf weights removed
// from the CatBoost JSON, as CatBoost before 0.9 wrote models.
func withoutLeafWeights(t *testing.T) model.Model {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(demo.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	trees, _ := doc["oblivious_trees"].([]any)
	for _, tr := range trees {
		delete(tr.(map[string]any), "leaf_weights")
	}
	if len(trees) == 0 {
		t.Fatal("the demo model has no oblivious_trees")
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modelfile.Parse("stripped.json", out, modelfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return f.Model
}

// TestWithoutLeafWeights: a model without leaf weights scores; a row that
// asks for reasons gets an error saying why, not a failure of the batch.
func TestWithoutLeafWeights(t *testing.T) {
	m := withoutLeafWeights(t)
	rk, err := reason.NewRanker(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := loanBatch(3, 6)
	if err := m.Predict(b, model.Probability, make([]float64, 3)); err != nil {
		t.Fatalf("the model without leaf weights does not score: %v", err)
	}
	notes := make([]reason.Note, 3)
	if err := rk.Annotate(b, []int{4, 0, 1}, notes); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(notes[0].Err, model.ErrNoExplanation) || !strings.Contains(notes[0].Err.Error(), "leaf weights") ||
		notes[1].Err != nil || !errors.Is(notes[2].Err, model.ErrNoExplanation) {
		t.Fatalf("notes %+v, want ErrNoExplanation naming the leaf weights on the rows that asked", notes)
	}
}

// TestUnseenNamesTheFeatures: values the demo model never saw are named
// per row, in flat order: a lower-case boolean (the model saw "True" and
// "False"), a state that does not exist; rows of seen values name none.
func TestUnseenNamesTheFeatures(t *testing.T) {
	m := demoModel(t)
	rk, err := reason.NewRanker(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := loanBatch(4, 7)
	s := m.Schema()
	set := func(r int, name, v string) {
		f, _ := s.Lookup(name)
		_, cats := b.Row(r)
		cats[f.Index] = v
	}
	set(1, "same_state", "false")
	set(1, "is_new", "true")
	set(2, "State", "Atlantis")
	notes := make([]reason.Note, b.Rows)
	if err := rk.Annotate(b, make([]int, b.Rows), notes); err != nil {
		t.Fatal(err)
	}
	want := [][]string{nil, {"is_new", "same_state"}, {"State"}, nil}
	for r := range want {
		if !slices.Equal(notes[r].Unseen, want[r]) {
			t.Errorf("row %d: unseen %v, want %v", r, notes[r].Unseen, want[r])
		}
	}
}

// TestUnknownFeaturesAreNamed: a mapping naming features the model lacks
// is refused, every such feature named.
func TestUnknownFeaturesAreNamed(t *testing.T) {
	codes, err := reason.ParseCodes([]byte("codes:\n- {code: A, text: Amount, features: [GrAppv, Amount]}\n- {code: B, text: Bee, features: [Bees]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = reason.NewRanker(demoModel(t), codes)
	if !errors.Is(err, reason.ErrCodes) || !strings.Contains(err.Error(), `"Amount" (code "A")`) || !strings.Contains(err.Error(), `"Bees" (code "B")`) {
		t.Fatalf("NewRanker: %v, want ErrCodes naming Amount and Bees", err)
	}
}

// TestAnnotateRejectsShortSlices: the wants and notes must cover the batch.
func TestAnnotateRejectsShortSlices(t *testing.T) {
	rk, err := reason.NewRanker(demoModel(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := loanBatch(2, 8)
	if err := rk.Annotate(b, []int{1}, make([]reason.Note, 2)); err == nil {
		t.Fatal("one want for two rows accepted")
	}
}

func repoRoot(t *testing.T) string { return testkit.RepoRoot(t) }
