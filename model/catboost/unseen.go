package catboost

import (
	"fmt"
	"slices"

	"github.com/loan-scorer/loan-scorer/model"
)

// This file is Model's model.UnseenReporter. A categorical value reaches a
// CatBoost model through its one-hot splits and its CTR tables; a value in
// neither makes every one-hot split false and every CTR take its prior, so
// the model scores it as "some category" without saying so (spec §6 item 8).
//
// A value counts as seen when it is one of the feature's one-hot values
// (every value the model lists, used by a split or not), or when some CTR
// table the trees use, whose projection includes the feature, has an entry
// for the row. A table over a combination has entries for combinations: a
// value seen in training but never with the row's other values is flagged
// when the feature has no other table or one-hot values. CatBoost builds a
// feature's single-feature CTRs before its combinations, so that is rare.

// unseenFeature is how one categorical feature's values are recognised.
type unseenFeature struct {
	index   int     // categorical Index
	hashed  int32   // position in evaluator.hashed
	oneHots []int32 // the feature's one-hot values, sorted
	bases   []int32 // the evaluator's CTR tables whose projection includes it
}

// buildUnseen lists the categorical features the compiled model reads.
func buildUnseen(d *Definition, e *evaluator) []unseenFeature {
	var out []unseenFeature
	for p, j := range e.hashed {
		u := unseenFeature{index: int(j), hashed: int32(p)}
		for bi, b := range e.bases {
			if slices.Contains(b.cats, int32(p)) {
				u.bases = append(u.bases, int32(bi))
			}
		}
		for _, oh := range d.OneHotFeatures {
			if oh.CatIndex == int(j) {
				u.oneHots = append(u.oneHots, oh.Values...)
			}
		}
		if len(u.bases) == 0 && len(u.oneHots) == 0 {
			continue
		}
		slices.Sort(u.oneHots)
		out = append(out, u)
	}
	return out
}

// Unseen writes, for every row of b and categorical feature, whether the
// row's value is unknown to the model (see the file comment): b.Rows ×
// b.NumCat flags, row-major, by categorical Index. Errors wrap ErrBatch.
func (m *Model) Unseen(b *model.Batch, out []bool) error {
	if err := b.Check(&m.schema); err != nil {
		return fmt.Errorf("catboost unseen: %w: %w", ErrBatch, err)
	}
	nc := b.NumCat
	if len(out) < b.Rows*nc {
		return fmt.Errorf("catboost unseen: output holds %d flags, %d rows need %d: %w", len(out), b.Rows, b.Rows*nc, ErrBatch)
	}
	clear(out[:b.Rows*nc])
	if len(m.unseen) == 0 {
		return nil
	}
	e := m.ev
	ws := m.pool.Get().(*workspace)
	hashes := ws.hashes[:len(e.hashed)]
	found := ws.found[:len(e.bases)]
	nf := b.NumFloat
	for r := range b.Rows {
		floats, cats := b.Floats[r*nf:(r+1)*nf], b.Cats[r*nc:(r+1)*nc]
		for p, j := range e.hashed {
			hashes[p] = CatHash(cats[j])
		}
		for bi := range e.bases {
			base := &e.bases[bi]
			found[bi] = base.table.lookup(e.projectionHash(base, floats, hashes)) != nil
		}
		flags := out[r*nc : (r+1)*nc]
		for _, u := range m.unseen {
			_, seen := slices.BinarySearch(u.oneHots, int32(hashes[u.hashed]))
			for _, bi := range u.bases {
				seen = seen || found[bi]
			}
			flags[u.index] = !seen
		}
	}
	m.pool.Put(ws)
	return nil
}
