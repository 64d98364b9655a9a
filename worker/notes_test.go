package worker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
	"github.com/loan-scorer/loan-scorer/worker"
)

// TestBatcherNotes: jobs asking for different numbers of reasons (none
// among them), batched together, each get the notes their own rows get
// from a Ranker alone (the reference), and every unseen value is counted
// under its feature.
func TestBatcherNotes(t *testing.T) {
	t.Parallel()
	mdl := testModel(t)
	if _, err := model.Explained(mdl.Model); err != nil { // prepared up front, as serve does
		t.Fatal(err)
	}
	codes, err := reason.LoadCodes("../configs/reason-codes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, withCodes := range []bool{false, true} {
		t.Run(fmt.Sprintf("codes=%v", withCodes), func(t *testing.T) {
			var c *reason.Codes
			var opts []worker.BatcherOption
			if withCodes {
				c = codes
				opts = append(opts, worker.WithCodes(codes))
			}
			ref, err := reason.NewRanker(mdl, c)
			if err != nil {
				t.Fatal(err)
			}
			m := metrics.New(nil)
			b := worker.NewBatcher(worker.Config{MaxSize: 16, MaxWait: 1e6, Queue: 64}, 2, m, opts...)
			startBatcher(t, b)
			rng := rand.New(rand.NewPCG(7, 8))
			const jobs = 60
			var wg sync.WaitGroup
			type check struct {
				rows *model.Batch
				k    int
				got  []reason.Note
			}
			checks := make([]*check, jobs)
			for i := range checks {
				c := &check{rows: randomRows(rng, mdl.Schema(), 1+rng.IntN(3)), k: []int{0, 0, 1, 3, 18}[rng.IntN(5)]}
				checks[i] = c
				wg.Add(1)
				j := &ingest.Job{Model: mdl, Rows: c.rows, Explain: c.k, Done: func(j *ingest.Job) {
					c.got = j.Notes
					wg.Done()
				}}
				if err := b.Submit(context.Background(), j); err != nil {
					t.Fatal(err)
				}
			}
			waitDone(t, &wg, "jobs")
			wantUnseen := map[string]int{}
			for i, c := range checks {
				want := make([]reason.Note, c.rows.Rows)
				ks := make([]int, c.rows.Rows)
				for r := range ks {
					ks[r] = c.k
				}
				if err := ref.Annotate(c.rows, ks, want); err != nil {
					t.Fatal(err)
				}
				for r := range want {
					for _, name := range want[r].Unseen {
						wantUnseen[name]++
					}
					var got reason.Note
					if r < len(c.got) {
						got = c.got[r]
					} else if len(c.got) != 0 {
						t.Fatalf("job %d: %d notes for %d rows", i, len(c.got), c.rows.Rows)
					}
					if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want[r]) && !(got.Empty() && want[r].Empty()) { // %+v: NaN equals NaN
						t.Fatalf("job %d row %d (explain %d):\n got  %+v\n want %+v", i, r, c.k, got, want[r])
					}
				}
			}
			if len(wantUnseen) == 0 {
				t.Fatal("no unseen value in the test rows: the counter check below cannot fail")
			}
			for _, f := range mdl.Schema().Features {
				if f.Kind != model.Categorical {
					continue
				}
				if got := unseenCount(m.UnseenTotal.WithLabelValues(f.Name)); got != float64(wantUnseen[f.Name]) {
					t.Errorf("scorer_unseen_values_total{feature=%q} = %v, want %d", f.Name, got, wantUnseen[f.Name])
				}
			}
		})
	}
}

func unseenCount(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestBatcherNotesMappingDoesNotFit: a mapping naming a feature the model
// lacks (a model reloaded under an older mapping) costs the rows that ask
// their reasons, with an error naming the feature, but every row keeps its
// unseen values and the counter still counts them.
func TestBatcherNotesMappingDoesNotFit(t *testing.T) {
	t.Parallel()
	mdl := testModel(t)
	codes := &reason.Codes{Codes: []reason.Code{{Code: "X1", Text: "Income", Features: []string{"Income"}}}}
	m := metrics.New(nil)
	b := worker.NewBatcher(worker.Config{MaxSize: 16, MaxWait: 1e6, Queue: 8}, 1, m, worker.WithCodes(codes))
	startBatcher(t, b)
	rows := model.NewBatch(mdl.Schema(), 2)
	for range 2 {
		floats, cats := rows.AppendRow()
		for i := range floats {
			floats[i] = 1
		}
		for i := range cats {
			cats[i] = "never seen"
		}
	}
	for _, k := range []int{0, 2} {
		done := make(chan []reason.Note, 1)
		j := &ingest.Job{Model: mdl, Rows: rows, Explain: k, Done: func(j *ingest.Job) { done <- slices.Clone(j.Notes) }}
		if err := b.Submit(context.Background(), j); err != nil {
			t.Fatal(err)
		}
		notes := <-done
		if len(notes) != 2 {
			t.Fatalf("explain %d: %d notes, want 2", k, len(notes))
		}
		for _, n := range notes {
			if len(n.Unseen) == 0 {
				t.Errorf("explain %d: no unseen values in %+v", k, n)
			}
			if k == 0 && (n.Asked != 0 || n.Err != nil || n.Reasons != nil) {
				t.Errorf("explain 0: %+v", n)
			}
			if k > 0 && (n.Asked != k || !errors.Is(n.Err, model.ErrNoExplanation) || !strings.Contains(n.Err.Error(), `"Income"`) || n.Reasons != nil) {
				t.Errorf("explain %d: %+v, want an error naming Income", k, n)
			}
		}
	}
	if got := unseenCount(m.UnseenTotal.WithLabelValues("State")); got != 4 {
		t.Errorf("scorer_unseen_values_total{feature=State} = %v, want 4 (two rows, twice)", got)
	}
}
