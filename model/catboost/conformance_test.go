package catboost

import (
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/model/modeltest"
)

// TestConformance holds every fixture model, the demo model and a random
// loan-shaped model to the contract of model.Model (package modeltest).
// CatBoost's one-vs-all and multi-label losses take a sigmoid per
// dimension for Probability.
func TestConformance(t *testing.T) {
	models := fixtureModels(t)
	names := make([]string, 0, len(models))
	for name := range models {
		if strings.HasSuffix(name, "/model.cbm") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	check := func(name string, m *Model, seed uint64) {
		loss := m.Output().Loss
		modeltest.TestModel(t, modeltest.Case{
			Name:        name,
			Model:       m,
			Rows:        RandomBatch(rand.New(rand.NewPCG(seed, 17)), m.Definition(), blockRows+70),
			SigmoidEach: loss == "MultiClassOneVsAll" || loss == "MultiLogloss" || loss == "MultiCrossEntropy",
		})
	}
	for i, name := range names {
		data, err := os.ReadFile(models[name])
		if err != nil {
			t.Fatal(err)
		}
		m, err := Load(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		check(name, m, uint64(i))
	}
	dm, err := Load(demo.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	check("demo", dm, 100)
	rm, err := Compile(Random(rand.New(rand.NewPCG(5, 5)), LoanShapedConfig()))
	if err != nil {
		t.Fatal(err)
	}
	check("random loan-shaped", rm, 101)
}
