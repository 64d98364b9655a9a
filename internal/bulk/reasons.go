package bulk

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

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

// noter notes the scored rows of a worker's batches: one per worker.
type noter struct {
	m model.Model
	// r ranks the reasons, k a row (nil: none asked).
	r *reason.Ranker
	k int
	// cats are the batch's categorical indexes of the counted features,
	// in the order of the counts (nil: none counted); pos is the count of
	// each by name.
	cats []int
	pos  map[string]int

	want  []int
	notes []reason.Note // by batch row, of the last batch
	flags []bool
	// flagged says flags hold the unseen flags of the batch predict
	// scored last, for annotate.
	flagged bool
}

// newRanker checks Options.Explain and Options.Codes against the model
// and returns the run's ranker: nil when no reasons are asked, so that a
// plain run does not prepare the model's explanations.
func newRanker(o Options) (*reason.Ranker, error) {
	if o.Explain < 0 || o.Explain > reason.MaxK(o.Model.Schema()) {
		return nil, fmt.Errorf("explain: %d, want 0..%d (the model's features)", o.Explain, reason.MaxK(o.Model.Schema()))
	}
	if o.Explain == 0 && o.Codes == nil {
		return nil, nil
	}
	r, err := reason.NewRanker(o.Model, o.Codes) // checks the codes
	if err != nil {
		return nil, err
	}
	if o.Explain == 0 || o.CopyThrough {
		return nil, nil
	}
	if err := r.Explains(); err != nil {
		return nil, fmt.Errorf("explain: %d reasons, but model %s cannot explain: %w", o.Explain, o.Model.Version, err)
	}
	return r, nil
}

// unseenCounted returns the features whose unseen values a run counts
// (Stats.Unseen): the model's categorical features in flat order, with
// their indexes in a batch's categories; none when the model cannot tell
// unseen values (only CatBoost models can) or the run copies through.
func unseenCounted(o Options) (names []string, cats []int) {
	if _, ok := o.Model.Model.(model.UnseenReporter); !ok || o.CopyThrough {
		return nil, nil
	}
	for _, f := range o.Model.Schema().Features {
		if f.Kind == model.Categorical {
			names, cats = append(names, f.Name), append(cats, f.Index)
		}
	}
	return names, cats
}

// newNoter returns a worker's noter; nil when the run notes nothing.
func newNoter(o Options) *noter {
	names, cats := unseenCounted(o)
	if o.ranker == nil && len(cats) == 0 {
		return nil
	}
	n := &noter{m: o.Model.Model, r: o.ranker, k: o.Explain, cats: cats, pos: map[string]int{}}
	for i, name := range names {
		n.pos[name] = i
	}
	return n
}

// annotate notes the b.Rows rows of b and returns their notes, by batch
// row, valid until the next call (nil when no reasons are asked). A row
// with a problem (problems[i] != ""; problems nil: every row is scored) is
// not scored: it asks for no reasons and its unseen values are not
// counted. The scored rows' unseen values are added to u.unseen, per
// counted feature. A scored row whose reasons could not be given stops
// the run: the model was checked to explain before it began, so that is
// a failure, not a row's fault.
func (n *noter) annotate(b *model.Batch, problems []string, u *unit) ([]reason.Note, error) {
	if len(u.unseen) != len(n.cats) {
		u.unseen = slices.Grow(u.unseen[:0], len(n.cats))[:len(n.cats)]
		clear(u.unseen)
	}
	scored := func(i int) bool { return problems == nil || problems[i] == "" }
	if n.r == nil {
		return nil, n.countUnseen(b, scored, u)
	}
	n.want = slices.Grow(n.want[:0], b.Rows)[:b.Rows]
	for i := range n.want {
		n.want[i] = 0
		if scored(i) {
			n.want[i] = n.k
		}
	}
	clear(n.notes) // let go of the last batch's
	n.notes = slices.Grow(n.notes[:0], b.Rows)[:b.Rows]
	if err := n.r.Annotate(b, n.want, n.notes); err != nil {
		return nil, fmt.Errorf("reasons: %w", err)
	}
	for i := range n.notes {
		if !scored(i) {
			continue
		}
		if err := n.notes[i].Err; err != nil {
			return nil, fmt.Errorf("reasons: %w", err)
		}
		for _, name := range n.notes[i].Unseen { // the ranker found them
			u.unseen[n.pos[name]]++
		}
	}
	return n.notes, nil
}

// predict scores the rows of b into out with m (whose Model is n's). When
// n counts unseen values and asks no reasons, the model flags them in the
// same pass (model.PredictUnseen), for the annotate call that follows on
// the same batch. n may be nil: a run that notes nothing.
func (n *noter) predict(m *model.Loaded, b *model.Batch, out []float64) error {
	if n == nil || n.r != nil || len(n.cats) == 0 {
		return m.Predict(b, m.Prediction, out)
	}
	n.flagged = false
	if err := model.PredictUnseen(n.m, b, m.Prediction, out, n.flagsFor(b)); err != nil {
		return err
	}
	n.flagged = true
	return nil
}

// flagsFor sizes n.flags for b's rows (UnseenReporter's layout) and
// returns them.
func (n *noter) flagsFor(b *model.Batch) []bool {
	n.flags = slices.Grow(n.flags[:0], b.Rows*b.NumCat)[:b.Rows*b.NumCat]
	return n.flags
}

// countUnseen counts the unseen values of b's scored rows when no reasons
// are asked: the model's flags alone (from predict, else asked here), no
// notes.
func (n *noter) countUnseen(b *model.Batch, scored func(i int) bool, u *unit) error {
	flagged := n.flagged
	n.flagged = false
	if len(n.cats) == 0 || b.Rows == 0 {
		return nil
	}
	if !flagged {
		if err := model.Unseen(n.m, b, n.flagsFor(b)); err != nil {
			return fmt.Errorf("unseen values: %w", err)
		}
	}
	for i := range b.Rows {
		if !scored(i) {
			continue
		}
		row := n.flags[i*b.NumCat : (i+1)*b.NumCat]
		for p, c := range n.cats {
			if row[c] {
				u.unseen[p]++
			}
		}
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

// reasonAt returns reason i of note n, nil when it has fewer.
func reasonAt(n *reason.Note, i int) *reason.Reason {
	if n == nil || i >= len(n.Reasons) {
		return nil
	}
	return &n.Reasons[i]
}

// appendReasonCSV appends the k reasons of note n (nil: none) as 2k CSV
// cells, each after a comma; empty past the reasons it has.
func appendReasonCSV(buf []byte, n *reason.Note, k int) []byte {
	for i := range k {
		buf = append(buf, ',')
		rs := reasonAt(n, i)
		if rs == nil {
			buf = append(buf, ',')
			continue
		}
		if name := reasonName(rs); strings.ContainsAny(name, "\",\r\n \t") {
			buf = appendCSVField(buf, name) // quoted as encoding/csv does
		} else {
			buf = append(buf, name...)
		}
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, rs.Contribution, 'g', -1, 64)
	}
	return buf
}

// reasonValues fills vs, a row each, with reason column j (0..2k-1:
// reason j/2's name when j is even, its contribution when odd) of output
// column col, from the rows' notes (nil or short: no reasons), null past
// the reasons a row has.
func reasonValues(vs []parquet.Value, notes []reason.Note, j, col int) {
	for r := range vs {
		var rs *reason.Reason
		if r < len(notes) {
			rs = reasonAt(&notes[r], j/2)
		}
		switch {
		case rs == nil:
			vs[r] = parquet.NullValue().Level(0, 0, col)
		case j%2 == 0:
			name := reasonName(rs)
			vs[r] = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(name), len(name))).Level(0, 1, col)
		default:
			vs[r] = parquet.DoubleValue(rs.Contribution).Level(0, 1, col)
		}
	}
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
