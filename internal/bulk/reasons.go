package bulk

import (
	"fmt"
	"math"
	"strconv"

	"github.com/parquet-go/parquet-go"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// This file is what a bulk run adds beside the scores: with Options.Explain
// K > 0, each scored row's top K reasons in 2K columns
//
//	reason_<i>               the reason: its code (Options.Codes), else the feature
//	reason_<i>_contribution  its SHAP value on the raw scale (log-odds)
//
// for i = 1..K, empty (null) past the reasons a row has; and, whatever K,
// the count per categorical feature of scored rows whose value the model
// never saw (Stats.Unseen). The reasons and counts come from
// model/reason.Ranker, the same code the service's results use.

// ReasonColumns returns the names of the 2K reason columns, in order.
func ReasonColumns(k int) []string {
	cols := make([]string, 0, 2*k)
	for i := 1; i <= k; i++ {
		name := "reason_" + strconv.Itoa(i)
		cols = append(cols, name, name+"_contribution")
	}
	return cols
}

// Unseen is how many scored rows of a run had a value of one categorical
// feature the model never saw.
type Unseen struct {
	Feature string
	Rows    int64
}

// noter annotates the scored rows of a chunk: one per scoring goroutine.
type noter struct {
	r     *reason.Ranker
	k     int
	want  []int
	notes []reason.Note
	cats  map[string]int // categorical feature name → index in the counts
}

// newRanker builds the run's ranker and checks Options.Explain against the
// model; nil when the run notes nothing (no reasons asked and the model
// cannot tell unseen values).
func newRanker(o Options) (*reason.Ranker, error) {
	if o.Explain < 0 || o.Explain > reason.MaxK(o.Model.Schema()) {
		return nil, fmt.Errorf("explain: %d, want 0..%d (the model's features)", o.Explain, reason.MaxK(o.Model.Schema()))
	}
	if o.CopyThrough {
		return nil, nil
	}
	r, err := reason.NewRanker(o.Model, o.Codes)
	if err != nil {
		return nil, err
	}
	if o.Explain > 0 {
		if err := r.Explains(); err != nil {
			return nil, fmt.Errorf("explain: %d reasons, but model %s cannot explain: %w", o.Explain, o.Model.Version, err)
		}
	} else if !r.ReportsUnseen() {
		return nil, nil
	}
	return r, nil
}

// unseenFeatures lists the model's categorical features in flat order:
// the features Stats.Unseen counts.
func unseenFeatures(s *model.Schema) []string {
	var names []string
	for _, f := range s.Features {
		if f.Kind == model.Categorical {
			names = append(names, f.Name)
		}
	}
	return names
}

func newNoter(r *reason.Ranker, k int, s *model.Schema) *noter {
	n := &noter{r: r, k: k, cats: map[string]int{}}
	for i, name := range unseenFeatures(s) {
		n.cats[name] = i
	}
	return n
}

// annotate notes the b.Rows scored rows of c (row i of b is chunk row
// idx[i]): c.notes gets their notes, c.unseen their unseen counts.
func (n *noter) annotate(c *chunk, b *model.Batch, idx []int) error {
	clear(c.notes)
	c.notes = c.notes[:0]
	if cap(c.unseen) < len(n.cats) {
		c.unseen = make([]int64, len(n.cats))
	}
	c.unseen = c.unseen[:len(n.cats)]
	clear(c.unseen)
	if n.r == nil || b.Rows == 0 {
		return nil
	}
	n.want = n.want[:0]
	for range b.Rows {
		n.want = append(n.want, n.k)
	}
	if cap(n.notes) < b.Rows {
		n.notes = make([]reason.Note, b.Rows)
	}
	notes := n.notes[:b.Rows]
	if err := n.r.Annotate(b, n.want, notes); err != nil {
		return fmt.Errorf("reasons: %w", err)
	}
	if cap(c.notes) < c.n {
		c.notes = make([]reason.Note, c.n)
	}
	c.notes = c.notes[:c.n]
	for i, r := range idx {
		if err := notes[i].Err; err != nil {
			return fmt.Errorf("reasons of row %d of the chunk: %w", r, err)
		}
		c.notes[r] = notes[i]
		for _, name := range notes[i].Unseen {
			c.unseen[n.cats[name]]++
		}
	}
	clear(notes) // the chunk holds them now
	return nil
}

// noteOf returns the note of chunk row r (nil when the run notes nothing).
func (c *chunk) noteOf(r int) *reason.Note {
	if r < len(c.notes) {
		return &c.notes[r]
	}
	return nil
}

// reasonName is what a reason column shows: the code, else the feature.
func reasonName(rs *reason.Reason) string {
	if rs.Code != nil {
		return rs.Code.Code
	}
	return rs.Features[0].Name
}

// appendReasonCells appends the k reasons of note n as 2k CSV cells.
func appendReasonCells(rec []string, n *reason.Note, k int) []string {
	for i := range k {
		if n == nil || i >= len(n.Reasons) {
			rec = append(rec, "", "")
			continue
		}
		rs := &n.Reasons[i]
		rec = append(rec, reasonName(rs), strconv.FormatFloat(rs.Contribution, 'g', -1, 64))
	}
	return rec
}

// reasonFields returns the 2k Parquet fields of the reason columns: a
// nullable string and a nullable double per reason.
func reasonFields(k int) []parquet.Field {
	cols := ReasonColumns(k)
	fields := make([]parquet.Field, len(cols))
	for i, name := range cols {
		node := parquet.Optional(parquet.String())
		if i%2 == 1 {
			node = parquet.Optional(parquet.Leaf(parquet.DoubleType))
		}
		fields[i] = &field{Node: node, name: name}
	}
	return fields
}

// appendReasonValues appends the k reasons of note n as 2k Parquet values
// from column col on, and returns the next column.
func appendReasonValues(row parquet.Row, n *reason.Note, k, col int) (parquet.Row, int) {
	for i := range k {
		if n == nil || i >= len(n.Reasons) || math.IsNaN(n.Reasons[i].Contribution) {
			row = append(row, parquet.NullValue().Level(0, 0, col), parquet.NullValue().Level(0, 0, col+1))
		} else {
			rs := &n.Reasons[i]
			row = append(row, parquet.ByteArrayValue([]byte(reasonName(rs))).Level(0, 1, col),
				parquet.DoubleValue(rs.Contribution).Level(0, 1, col+1))
		}
		col += 2
	}
	return row, col
}
