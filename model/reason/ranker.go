package reason

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/loan-scorer/loan-scorer/model"
)

// Ranker gives the rows of one model their Notes: reasons from the model's
// SHAP values, grouped by a reason-code mapping, and unseen categorical
// values. Build it with NewRanker; it is immutable and safe for concurrent
// use.
//
// The reasons of a row are toward its predicted outcome: for a binary
// classifier toward the positive class (for the loan models: toward
// default), for a regressor toward a higher prediction, for a multiclass
// model toward the predicted class (the largest raw value, the first on a
// tie, as Class predicts); the model's SHAP values of that dimension are
// summed per reason (a code, or a feature no code names) and the reasons
// with the largest positive sums are kept, the first feature in flat order
// first on a tie.
type Ranker struct {
	m      model.Model // the backend (a *model.Loaded is unwrapped)
	schema *model.Schema
	// dims is the number of explained dimensions; explainErr is why the
	// model has no reasons to give (nil when it has). Both are set once,
	// on the first need (explained): asking the model prepares its
	// explanations, which costs about a second for the demo model, and a
	// ranker that only reports unseen values never pays it.
	explainOnce sync.Once
	dims        int
	explainErr  error
	// groups are every reason a row can have, ordered by their first
	// feature's flat position.
	groups []group
	// unseen is set when the model reports unseen values; catOrder lists
	// its categorical Index values in flat order, catNames their names.
	unseen   bool
	catOrder []int
	catNames []string

	pool sync.Pool // *scratch
}

// group is one reason: a code and its features, or a feature alone.
type group struct {
	code     *Code
	features []int // flat indexes, ascending
}

// scratch is what one Annotate call works in, pooled.
type scratch struct {
	flags []bool
	sub   model.Batch
	rows  []int // rows of the batch that asked for reasons
	shap  []float64
	sums  []float64
	taken []bool
}

// NewRanker returns the ranker of m (a backend or a *model.Loaded) with the
// mapping codes (nil: every feature is a reason of its own). A code naming
// a feature m does not have is an error wrapping ErrCodes that names every
// such feature; a model feature no code names is a reason of its own. A
// model that cannot explain still gets a ranker: rows that ask for reasons
// then get Note.Err, saying why.
func NewRanker(m model.Model, codes *Codes) (*Ranker, error) {
	if l, ok := m.(*model.Loaded); ok {
		m = l.Model
	}
	s := m.Schema()
	r := &Ranker{m: m, schema: s}
	r.pool.New = func() any { return &scratch{} }
	groupOf := make([]int, len(s.Features))
	for i := range groupOf {
		groupOf[i] = -1
	}
	if codes != nil {
		var unknown []string
		for ci := range codes.Codes {
			c := &codes.Codes[ci]
			for _, name := range c.Features {
				f, ok := s.Lookup(name)
				if !ok {
					unknown = append(unknown, fmt.Sprintf("%q (code %q)", clip(name), clip(c.Code)))
					continue
				}
				groupOf[f.FlatIndex] = -2 - ci // resolved to a group below
			}
		}
		if len(unknown) > 0 {
			return nil, fmt.Errorf("%w: the model has no feature %s", ErrCodes, strings.Join(unknown, ", "))
		}
	}
	byCode := map[int]int{}
	for fi := range s.Features {
		switch g := groupOf[fi]; {
		case g == -1:
			groupOf[fi] = len(r.groups)
			r.groups = append(r.groups, group{features: []int{fi}})
		case g <= -2:
			ci := -2 - g
			gi, ok := byCode[ci]
			if !ok {
				gi = len(r.groups)
				byCode[ci] = gi
				r.groups = append(r.groups, group{code: &codes.Codes[ci]})
			}
			r.groups[gi].features = append(r.groups[gi].features, fi)
			groupOf[fi] = gi
		}
	}
	if _, ok := m.(model.UnseenReporter); ok {
		for _, f := range s.Features {
			if f.Kind == model.Categorical {
				r.catOrder = append(r.catOrder, f.Index)
				r.catNames = append(r.catNames, f.Name)
			}
		}
		r.unseen = len(r.catOrder) > 0
	}
	return r, nil
}

// Explains returns nil when the model gives reasons, else why not (as
// Note.Err would say). The first call prepares the model's explanations.
func (r *Ranker) Explains() error {
	_, err := r.explained()
	return err
}

// explained returns the dimensions the ranker explains, or why it gives
// no reasons, asking the model on the first call.
func (r *Ranker) explained() (int, error) {
	r.explainOnce.Do(func() {
		r.dims, r.explainErr = model.Explained(r.m)
		if r.explainErr == nil && r.dims > 1 && r.m.Output().Task != model.MultiClassification {
			r.explainErr = fmt.Errorf("%w: a %s model explains %d dimensions", ErrNoOutcome, r.m.Output().Task, r.dims)
		}
	})
	return r.dims, r.explainErr
}

// ReportsUnseen reports whether the model tells which categorical values
// it never saw (Annotate then fills Note.Unseen).
func (r *Ranker) ReportsUnseen() bool { return r.unseen }

// Reasons returns how many distinct reasons a row can have: the codes the
// model has features of, plus the features no code names.
func (r *Ranker) Reasons() int { return len(r.groups) }

// Annotate fills notes[r] for every row r of b (notes must hold b.Rows):
// Asked is want[r], the reasons of the rows with want[r] > 0 (their top
// want[r]), and the unseen features of every row. It calls the model's
// UnseenReporter once for the batch and its Explainer once for the rows
// that asked (as a batch of their own when not all did). A model that
// cannot explain, or an explanation that fails, sets Err of the rows that
// asked; the returned error is only for arguments that do not fit.
//
// The notes' slices are allocated per call (one arena for the unseen
// names, one for the reasons, when there are any) and stay valid after
// it: the caller may keep them.
func (r *Ranker) Annotate(b *model.Batch, want []int, notes []Note) error {
	if len(want) < b.Rows || len(notes) < b.Rows {
		return fmt.Errorf("reason: annotate %d rows with %d wants and %d notes", b.Rows, len(want), len(notes))
	}
	sc := r.pool.Get().(*scratch)
	defer r.pool.Put(sc)
	sc.rows = sc.rows[:0]
	for i := range b.Rows {
		notes[i] = Note{Asked: want[i]}
		if want[i] > 0 {
			sc.rows = append(sc.rows, i)
		}
	}
	if r.unseen {
		if err := r.addUnseen(b, notes, sc); err != nil {
			return err
		}
	}
	if len(sc.rows) == 0 {
		return nil
	}
	if _, err := r.explained(); err != nil {
		for _, i := range sc.rows {
			notes[i].Err = err
		}
		return nil
	}
	r.addReasons(b, want, notes, sc)
	return nil
}

// addUnseen sets the Unseen names of every row of b.
func (r *Ranker) addUnseen(b *model.Batch, notes []Note, sc *scratch) error {
	n := b.Rows * b.NumCat
	if cap(sc.flags) < n {
		sc.flags = make([]bool, n)
	}
	flags := sc.flags[:n]
	if err := safely(func() error { return model.Unseen(r.m, b, flags) }); err != nil {
		if errors.Is(err, model.ErrNoUnseen) {
			return nil
		}
		return fmt.Errorf("unseen values: %w", err)
	}
	total := 0
	for _, f := range flags {
		if f {
			total++
		}
	}
	if total == 0 {
		return nil
	}
	names := make([]string, 0, total)
	for i := range b.Rows {
		row := flags[i*b.NumCat : (i+1)*b.NumCat]
		start := len(names)
		for k, ci := range r.catOrder {
			if row[ci] {
				names = append(names, r.catNames[k])
			}
		}
		if len(names) > start {
			notes[i].Unseen = names[start:len(names):len(names)]
		}
	}
	return nil
}

// addReasons explains the rows in sc.rows and ranks their reasons.
func (r *Ranker) addReasons(b *model.Batch, want []int, notes []Note, sc *scratch) {
	src := b
	if len(sc.rows) < b.Rows {
		src = &sc.sub
		src.Reset()
		src.NumFloat, src.NumCat = b.NumFloat, b.NumCat
		for _, i := range sc.rows {
			floats, cats := b.Row(i)
			src.Floats = append(src.Floats, floats...)
			src.Cats = append(src.Cats, cats...)
			src.Rows++
		}
		defer src.Reset() // drop the string references
	}
	width := model.ExplanationWidth(r.schema, r.dims)
	n := len(sc.rows) * width
	if cap(sc.shap) < n {
		sc.shap = make([]float64, n)
	}
	shap := sc.shap[:n]
	if err := safely(func() error { return model.Explain(r.m, src, shap) }); err != nil {
		err = fmt.Errorf("explain %d rows: %w", len(sc.rows), err)
		for _, i := range sc.rows {
			notes[i].Err = err
		}
		return
	}
	if cap(sc.sums) < len(r.groups) {
		sc.sums = make([]float64, len(r.groups))
		sc.taken = make([]bool, len(r.groups))
	}
	sums, taken := sc.sums[:len(r.groups)], sc.taken[:len(r.groups)]
	// The arenas: every row's reasons and their features, sized for the
	// usual case (a feature a reason) and grown when codes group more.
	k := 0
	for _, i := range sc.rows {
		k += min(want[i], len(r.groups))
	}
	reasons := make([]Reason, 0, k)
	values := make([]Value, 0, k)
	per := len(r.schema.Features) + 1
	for j, i := range sc.rows {
		vals := shap[j*width : (j+1)*width]
		d := 0
		if r.dims > 1 {
			d = predicted(vals, r.dims, per)
		}
		vals = vals[d*per : (d+1)*per]
		for g := range r.groups {
			s := 0.0
			for _, f := range r.groups[g].features {
				s += vals[f]
			}
			sums[g], taken[g] = s, false
		}
		floats, cats := b.Row(i)
		start := len(reasons)
		for range min(want[i], len(r.groups)) {
			best := -1
			for g, s := range sums {
				if !taken[g] && s > 0 && (best < 0 || s > sums[best]) {
					best = g
				}
			}
			if best < 0 {
				break // no more reasons toward the outcome
			}
			taken[best] = true
			first := len(values)
			for _, f := range r.groups[best].features {
				values = append(values, r.value(f, floats, cats, vals[f]))
			}
			reasons = append(reasons, Reason{Code: r.groups[best].code, Contribution: sums[best],
				Features: values[first:len(values):len(values)]})
		}
		notes[i].Reasons = reasons[start:len(reasons):len(reasons)]
	}
}

// value is flat feature f of a row with its contribution c.
func (r *Ranker) value(f int, floats []float64, cats []string, c float64) Value {
	ft := &r.schema.Features[f]
	v := Value{Name: ft.Name, Kind: ft.Kind, Contribution: c}
	if ft.Kind == model.Categorical {
		v.Category = cats[ft.Index]
	} else {
		v.Number = floats[ft.Index]
	}
	return v
}

// predicted returns the dimension with the largest raw value (the sum of a
// dimension's values and its expected value), the first on a tie.
func predicted(vals []float64, dims, per int) int {
	best, bestRaw := 0, 0.0
	for d := range dims {
		raw := 0.0
		for _, v := range vals[d*per : (d+1)*per] {
			raw += v
		}
		if d == 0 || raw > bestRaw {
			best, bestRaw = d, raw
		}
	}
	return best
}

// safely runs call, turning a panic into an error, so that a failing
// explanation costs the rows their reasons, not the process.
func safely(call func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("model panicked: %v", p)
		}
	}()
	return call()
}
