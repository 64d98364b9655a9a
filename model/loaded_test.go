package model_test

import (
	"testing"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/demo"
)

func TestHolderSwap(t *testing.T) {
	m, err := catboost.Load(demo.Bytes())
	if err != nil {
		t.Fatalf("load the demo model: %v", err)
	}
	a := model.NewLoaded(m, model.Version(demo.Name, demo.Bytes()), true)
	b := *a
	b.Version = "other@000000000000"
	h := model.NewHolder(a)
	if h.Load() != a {
		t.Fatal("Load after NewHolder")
	}
	if old := h.Swap(&b); old != a || h.Load() != &b {
		t.Fatal("Swap")
	}
	if got := model.Version("loan-demo", []byte("abc")); got != "loan-demo@ba7816bf8f01" {
		t.Fatalf("Version = %q", got) // sha256("abc") = ba7816bf8f01cfea...
	}
}

// TestLoadedCachesOutput checks what hot paths rely on: Width and Output
// come from the cache NewLoaded fills, and Prediction is the serving type.
func TestLoadedCachesOutput(t *testing.T) {
	m, err := catboost.Load(demo.Bytes())
	if err != nil {
		t.Fatalf("load the demo model: %v", err)
	}
	l := model.NewLoaded(m, "x@000000000000", false)
	if l.Prediction != model.Probability || l.Width() != 1 {
		t.Fatalf("Prediction %v, Width %d; want Probability, 1", l.Prediction, l.Width())
	}
	if got, want := l.Output(), m.Output(); got.Task != want.Task || got.Dimension != want.Dimension {
		t.Fatalf("Output %+v, want %+v", got, want)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = l.Width() }); allocs != 0 {
		t.Fatalf("Width allocates %v times", allocs)
	}
}
