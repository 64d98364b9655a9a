package train

import (
	"bytes"
	"math"
	"testing"

	"github.com/loan-scorer/loan-scorer/loan"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/catboost/cbjson"
)

// loanDataset draws n labelled applications in the seed's column order.
func loanDataset(g *loan.Generator, n int) *Dataset {
	cats := map[string]bool{}
	for _, c := range loan.CatFields() {
		cats[c] = true
	}
	var fs []Feature
	for _, name := range loan.FlatFields() {
		fs = append(fs, Feature{Name: name, Categorical: cats[name]})
	}
	d := NewDataset(fs)
	fl := make([]float64, 9)
	ct := make([]string, 9)
	for range n {
		l := g.Labeled()
		l.Floats(fl)
		l.Cats(ct)
		d.Append(fl, ct, float64(l.Default))
	}
	return d
}

// TestWrittenModelMatchesTrainer is requirement 4: the model the trainer
// writes as CatBoost JSON, loaded by the real evaluator, predicts exactly
// what the trainer itself predicts (its own hashing, CTRs and split rule),
// raw values bit for bit, on training rows, fresh rows, rows with unseen
// categories and rows with missing numbers. Any disagreement between the
// writer, the evaluator and the spec shows here.
func TestWrittenModelMatchesTrainer(t *testing.T) {
	g := loan.NewGenerator(42)
	d := loanDataset(g, 4000)
	cfg := DefaultConfig()
	cfg.Iterations = 40
	cfg.BorderCount = 32
	cfg.CtrBorderCount = 16
	m, err := Train(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	def, err := m.Definition()
	if err != nil {
		t.Fatal(err)
	}
	if len(def.Ctrs) == 0 || len(def.OneHotFeatures) == 0 {
		t.Fatalf("model has %d CTRs and %d one-hot features; the test needs both", len(def.Ctrs), len(def.OneHotFeatures))
	}
	var buf bytes.Buffer
	if err := cbjson.Write(&buf, def); err != nil {
		t.Fatal(err)
	}
	cm, err := catboost.Load(buf.Bytes())
	if err != nil {
		t.Fatalf("load written model: %v", err)
	}
	schema := cm.Schema()
	for i, name := range loan.FlatFields() {
		f := schema.Features[i]
		if f.Name != name || (f.Kind == model.Categorical) != d.Features[i].Categorical {
			t.Fatalf("feature %d: %s %v, want %s", i, f.Name, f.Kind, name)
		}
	}

	// Rows: the training rows, fresh ones, and fresh ones with unseen
	// categories and missing numbers.
	type row struct {
		floats []float64
		cats   []string
	}
	var rows []row
	for r := range d.Rows() {
		fl := make([]float64, 9)
		ct := make([]string, 9)
		for i := range fl {
			fl[i] = d.Floats[i][r]
			ct[i] = d.Cats[i][r]
		}
		rows = append(rows, row{fl, ct})
	}
	for i := range 2000 {
		l := g.Labeled()
		fl := make([]float64, 9)
		ct := make([]string, 9)
		l.Floats(fl)
		l.Cats(ct)
		switch i % 4 {
		case 1:
			ct[i%9] = "never seen in training"
		case 2:
			fl[i%9] = math.NaN()
		case 3:
			fl[(i+3)%9] = math.NaN()
			ct[(i+5)%9] = ""
		}
		rows = append(rows, row{fl, ct})
	}

	b := model.NewBatch(schema, len(rows))
	for _, r := range rows {
		fl, ct := b.AppendRow()
		for _, f := range schema.Features {
			if f.Kind == model.Float {
				fl[f.Index] = r.floats[f.Index]
			} else {
				ct[f.Index] = r.cats[f.Index]
			}
		}
	}
	raw := make([]float64, len(rows))
	if err := cm.Predict(b, model.RawFormulaVal, raw); err != nil {
		t.Fatal(err)
	}
	var mismatches int
	for i, r := range rows {
		want := m.PredictRaw(r.floats, r.cats)
		if math.Float64bits(raw[i]) != math.Float64bits(want) {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("row %d: evaluator %v, trainer %v", i, raw[i], want)
			}
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d rows differ", mismatches, len(rows))
	}
}
