package loan

import (
	"math"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/train"
)

// TestRiskSeedExamples recomputes the seed examples' log-odds by hand from
// the table in Risk's doc comment.
func TestRiskSeedExamples(t *testing.T) {
	ex := SeedExamples()
	// Example 1: Term 84 +0.3; urban +0.25; RevLineCr N 0; new +0.25 (Term
	// >= 60, no interaction); NAICS 45 +0.25; NC 0; BBCN BANK +0.5; out of
	// state +0.2; City Other +0.05; no franchise 0; share 0.85: -1.5*0.15;
	// GrAppv 1.5M: -0.25*(log10(1.5e6)-5); NoEmp 5: 0.25-0.18*ln 6.
	want1 := -2.0 + 0.3 + 0.25 + 0.25 + 0.25 + 0.5 + 0.2 + 0.05 - 1.5*0.15 -
		0.25*(math.Log10(1.5e6)-5) + 0.25 - 0.18*math.Log(6)
	// Example 2: Term 19: 1.4-0.3*18/35; rural 0; RevLineCr Y +0.3 and Y
	// with Term < 60 -0.2; existing 0; NAICS 81 +0.05; IN 0; WELLS FARGO
	// -0.35; out of state +0.2; Other +0.05; franchise "1" 0; share 0.5:
	// +0.3; GrAppv 3.5M: -0.25*(log10(3.5e6)-5); NoEmp 10: 0.25-0.18*ln 11.
	want2 := -2.0 + 1.4 - 0.3*18/35 + 0.3 - 0.2 + 0.05 - 0.35 + 0.2 + 0.05 + 0.3 -
		0.25*(math.Log10(3.5e6)-5) + 0.25 - 0.18*math.Log(11)
	for i, want := range []float64{want1, want2} {
		if got := Logit(&ex[i]); math.Abs(got-want) > 1e-12 {
			t.Errorf("example %d: logit %v, want %v", i, got, want)
		}
		p := Risk(&ex[i])
		t.Logf("example %d: true default probability %.4f", i, p)
		if p < 0.05 || p > 0.6 {
			t.Errorf("example %d: probability %v is implausible", i, p)
		}
	}
}

// TestRiskDirections checks the table's signs on generated applications:
// changing one field in the documented direction moves every row's risk.
func TestRiskDirections(t *testing.T) {
	g := NewGenerator(21)
	cases := []struct {
		name  string
		apply func(a *Application)
		lower bool // risk must go down
	}{
		{"Term 19 to 240", func(a *Application) {}, true},
		{"existing to new business", func(a *Application) { a.IsNew = true }, false},
		{"health care to real estate", func(a *Application) { a.NAICS = "53" }, false},
		{"urban to undefined", func(a *Application) { a.UrbanRural = 0 }, true},
		{"Wells Fargo to BBCN", func(a *Application) { a.Bank = "BBCN BANK" }, false},
		{"share 0.5 to 0.85", func(a *Application) { a.SBAAppv = 0.85 * a.GrAppv }, true},
	}
	for range 2000 {
		base := g.Next()
		base.Term = 19
		base.IsNew = false
		base.NAICS = "62"
		base.UrbanRural = 1
		base.Bank = "WELLS FARGO BANK NATL ASSOC"
		base.SBAAppv = 0.5 * base.GrAppv
		for i, c := range cases {
			a := base
			if i == 0 {
				a.Term = 240
			}
			c.apply(&a)
			before, after := Risk(&base), Risk(&a)
			if c.lower != (after < before) || after == before {
				t.Fatalf("%s: risk %v -> %v", c.name, before, after)
			}
		}
	}
}

// TestBayesMetrics checks the risk function's own discrimination: SBA
// default models reach an AUC of about 0.72-0.85, and about one loan in six
// defaults.
func TestBayesMetrics(t *testing.T) {
	g := NewGenerator(99)
	const n = 100000
	p, y := make([]float64, n), make([]float64, n)
	var rate float64
	for i := range n {
		l := g.Labeled()
		p[i], y[i] = l.DefaultProbaTrue, float64(l.Default)
		rate += y[i]
	}
	rate /= n
	auc := train.AUC(p, y)
	t.Logf("default rate %.4f, Bayes AUC %.4f, Bayes log-loss %.4f", rate, auc, train.LogLoss(p, y))
	if auc < 0.72 || auc > 0.85 {
		t.Errorf("Bayes AUC %.4f not in [0.72, 0.85]", auc)
	}
	if rate < 0.12 || rate > 0.25 {
		t.Errorf("default rate %.4f not in [0.12, 0.25]", rate)
	}
}
