package worker

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
)

// TestAsyncExplain: explain.top_k gives every stored result its reasons,
// the Explain header overrides it per message (0: none), and a bad header
// is bad input: an error result naming the header, and a dead letter.
// The reference reasons are the largest positive values model.Explain
// gives the row on its own.
func TestAsyncExplain(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	r.explain = 2
	if _, err := model.Explained(r.model.Model); err != nil {
		t.Fatalf("the test model must explain: %v", err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	data, row := application(rng)
	r.publish("default", data, nil)
	r.publish("header-4", data, map[string]string{ingest.HeaderExplain: "4"})
	r.publish("header-0", data, map[string]string{ingest.HeaderExplain: "0"})
	r.publish("header-bad", data, map[string]string{ingest.HeaderExplain: "four"})
	r.publish("header-big", data, map[string]string{ingest.HeaderExplain: "7"}) // the model has 6 features
	r.start(DefaultConfig())
	testkit.Eventually(t, 20*time.Second, "every message answered", func() bool {
		return r.count("LOANS_SCORED") == 5 && r.count("LOANS") == 0
	})

	s := r.model.Schema()
	b := model.NewBatch(s, 1)
	f, _ := b.AppendRow()
	copy(f, row)
	shap := make([]float64, model.ExplanationWidth(s, 1))
	if err := model.Explain(r.model.Model, b, shap); err != nil {
		t.Fatal(err)
	}
	top := func(k int) []string {
		var names []string
		taken := make([]bool, len(s.Features))
		for range k {
			best := -1
			for i := range s.Features {
				if !taken[i] && shap[i] > 0 && (best < 0 || shap[i] > shap[best]) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			taken[best] = true
			names = append(names, s.Features[best].Name)
		}
		return names
	}
	type body struct {
		resultBody
		Reasons *[]struct {
			Feature      string  `json:"feature"`
			Value        float64 `json:"value"`
			Contribution float64 `json:"contribution"`
		} `json:"reasons"`
	}
	got := map[string]body{}
	for _, m := range r.stored("LOANS_SCORED") {
		var b body
		if err := json.Unmarshal(m.Data, &b); err != nil {
			t.Fatal(err)
		}
		got[b.ID] = b
	}
	for id, k := range map[string]int{"default": 2, "header-4": 4, "header-0": 0} {
		b := got[id]
		if b.DefaultProba == nil {
			t.Errorf("%s: %+v", id, b)
			continue
		}
		if k == 0 {
			if b.Reasons != nil {
				t.Errorf("%s: reasons %+v, none asked", id, *b.Reasons)
			}
			continue
		}
		want := top(k)
		if len(want) < 2 {
			t.Fatalf("the row has %d positive contributions: too few to tell K apart", len(want))
		}
		if b.Reasons == nil || len(*b.Reasons) != len(want) {
			t.Errorf("%s: reasons %+v, want %v", id, b.Reasons, want)
			continue
		}
		for i, rs := range *b.Reasons {
			fi, _ := s.Lookup(rs.Feature)
			if rs.Feature != want[i] || rs.Value != row[fi.Index] || rs.Contribution != shap[fi.FlatIndex] {
				t.Errorf("%s reason %d: %+v, want %s = %v (%v)", id, i, rs, want[i], row[fi.Index], shap[fi.FlatIndex])
			}
		}
	}
	for id, problem := range map[string]string{"header-bad": ingest.FieldInvalidInteger, "header-big": ingest.FieldOutOfRange} {
		if b := got[id]; b.Error == nil || b.Error.Fields[ingest.HeaderExplain] != problem {
			t.Errorf("%s: %+v, want an error on %s: %s", id, b, ingest.HeaderExplain, problem)
		}
	}
	if n := r.count("LOANS_DLQ"); n != 2 {
		t.Errorf("%d dead letters, want 2 (the bad headers)", n)
	}
}
