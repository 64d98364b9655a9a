package xgboost

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/model/modeltest"
)

// TestConformance holds every XGBoost JSON model of testdata to the
// contract of model.Model (package modeltest), on rows around each model's
// split thresholds.
func TestConformance(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".json") && !strings.Contains(n, "expected") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if len(names) < 5 {
		t.Fatalf("only %d models in testdata: %v", len(names), names)
	}
	for i, name := range names {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Load(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rng := rand.New(rand.NewPCG(uint64(i), 3))
		modeltest.TestModel(t, modeltest.Case{
			Name:  name,
			Model: m,
			Rows:  modeltest.RowsAround(rng, m.Schema(), m.SplitThresholds(), nil, 300),
		})
	}
}
