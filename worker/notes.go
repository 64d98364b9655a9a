package worker

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// This file is what the batcher notes beside the scores: the reasons of the
// rows whose job asked for them (ingest.Job.Explain), and every row's
// unseen categorical values, counted in scorer_unseen_values_total. It
// happens in the batch that scored the rows: one UnseenReporter call for
// the batch, one Explainer call for the rows that asked (reason.Ranker).

// BatcherOption configures a Batcher beyond its Config.
type BatcherOption func(*Batcher)

// WithCodes makes the reasons of the batcher's results sum the features of
// each reason code of codes (nil: every feature is a reason of its own).
// The mapping should fit every model the batcher scores (the service
// checks it against the model it starts with); a model it does not fit
// gets no reasons, only an error saying why in each result that asked.
func WithCodes(codes *reason.Codes) BatcherOption {
	return func(b *Batcher) { b.notes.codes = codes }
}

// noter builds and keeps the reason.Ranker of the model scored last, with
// its unseen-value counters: a reload costs one cheap rebuild. The model's
// explanations are prepared by the first batch that asks for reasons
// (serve prepares them at start when explain.top_k > 0).
type noter struct {
	codes *reason.Codes
	m     *metrics.Metrics
	cur   atomic.Pointer[ranked]
}

type ranked struct {
	model  *model.Loaded
	ranker *reason.Ranker
	err    error                         // the mapping does not fit the model
	unseen map[string]prometheus.Counter // by categorical feature
}

// get returns the ranker of m.
func (n *noter) get(m *model.Loaded) *ranked {
	if r := n.cur.Load(); r != nil && r.model == m {
		return r
	}
	r := &ranked{model: m}
	r.ranker, r.err = reason.NewRanker(m, n.codes)
	if r.err != nil {
		// The mapping does not fit (a reloaded model): no reasons, but
		// its unseen values are still noted, by a ranker without codes
		// (which cannot fail).
		r.err = fmt.Errorf("%w: %w", model.ErrNoExplanation, r.err)
		r.ranker, _ = reason.NewRanker(m, nil)
	}
	if r.ranker.ReportsUnseen() {
		r.unseen = map[string]prometheus.Counter{}
		for _, f := range m.Schema().Features {
			if f.Kind == model.Categorical {
				r.unseen[f.Name] = n.m.UnseenTotal.WithLabelValues(f.Name)
			}
		}
	}
	n.cur.Store(r)
	return r
}

// note fills bt.notes, one per row, or leaves it empty when there is
// nothing to note (no job asked for reasons and the model cannot tell
// unseen values, or no row has any).
func (b *Batcher) note(bt *batch) {
	bt.notes = bt.notes[:0]
	asked := false
	for _, j := range bt.jobs {
		asked = asked || j.Explain > 0
	}
	r := b.notes.get(bt.model)
	if !asked && !r.ranker.ReportsUnseen() {
		return
	}
	rows := bt.rows.Rows
	bt.want = bt.want[:0]
	for _, j := range bt.jobs {
		for range j.Rows.Rows {
			bt.want = append(bt.want, j.Explain)
		}
	}
	if cap(bt.notes) < rows {
		bt.notes = make([]reason.Note, rows)
	}
	bt.notes = bt.notes[:rows]
	want := bt.want
	if r.err != nil {
		want = bt.none[:0] // unseen values only
		for range rows {
			want = append(want, 0)
		}
		bt.none = want
	}
	if err := r.ranker.Annotate(&bt.rows, want, bt.notes); err != nil {
		// Arguments that do not fit: a bug, not the rows' fault. The
		// scores stand; the rows that asked say what went wrong.
		err = fmt.Errorf("%w: %w", model.ErrNoExplanation, err)
		for i, k := range bt.want {
			bt.notes[i] = reason.Note{Asked: k}
			if k > 0 {
				bt.notes[i].Err = err
			}
		}
		return
	}
	if r.err != nil {
		for i, k := range bt.want {
			if k > 0 {
				bt.notes[i].Asked, bt.notes[i].Err = k, r.err
			}
		}
	}
	noted := asked
	for i := range bt.notes {
		for _, name := range bt.notes[i].Unseen {
			noted = true
			r.unseen[name].Inc()
		}
	}
	if !noted {
		clear(bt.notes)
		bt.notes = bt.notes[:0]
	}
}
