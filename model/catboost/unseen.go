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
	// baseBits has bit bi set for each of bases (models with at most
	// maxHitBases tables: workspace.hits).
	baseBits uint64
}

// buildUnseen lists the categorical features the compiled model reads.
func buildUnseen(d *Definition, e *evaluator) []unseenFeature {
	var out []unseenFeature
	for p, j := range e.hashed {
		u := unseenFeature{index: int(j), hashed: int32(p)}
		for bi, b := range e.bases {
			if slices.Contains(b.cats, int32(p)) {
				u.bases = append(u.bases, int32(bi))
				if bi < maxHitBases {
					u.baseBits |= 1 << bi
				}
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
	if err := m.checkUnseen(b, out); err != nil {
		return err
	}
	if len(m.unseen) == 0 {
		return nil
	}
	ws := m.pool.Get().(*workspace)
	m.unseenBlock(ws, b, 0, b.Rows, false, out)
	m.pool.Put(ws)
	return nil
}

// PredictUnseen is Predict and Unseen on the same batch in one pass: the
// block path's CTR lookups and hashes give the flags, at a fraction of
// what Unseen costs on its own (model.UnseenPredictor).
func (m *Model) PredictUnseen(b *model.Batch, p model.PredictionType, out []float64, unseen []bool) error {
	if err := m.checkPredict(b, p, out); err != nil {
		return err
	}
	if err := m.checkUnseen(b, unseen); err != nil {
		return err
	}
	m.predict(b, p, out, unseen)
	return nil
}

// checkUnseen checks the length of Unseen's output and clears it.
func (m *Model) checkUnseen(b *model.Batch, out []bool) error {
	nc := b.NumCat
	if len(out) < b.Rows*nc {
		return fmt.Errorf("catboost unseen: output holds %d flags, %d rows need %d: %w", len(out), b.Rows, b.Rows*nc, ErrBatch)
	}
	clear(out[:b.Rows*nc])
	return nil
}

// unseenBlock writes the flags of rows [start, start+n) of b into out
// (indexed by batch row, as Unseen's). When binarized, sumBlock has just
// binarized exactly these rows: their hashes are in ws.hashes and, when
// ws.hits is set, their CTR hits in ws.hits. Otherwise each row is hashed
// and looked up here.
func (m *Model) unseenBlock(ws *workspace, b *model.Batch, start, n int, binarized bool, out []bool) {
	nf, nc, nh := b.NumFloat, b.NumCat, len(m.ev.hashed)
	if binarized && ws.hits != nil {
		// Feature by feature: each one's bits and one-hot values stay in
		// registers over the block's rows.
		flags := out[start*nc : (start+n)*nc]
		hits := ws.hits[:n]
		for _, u := range m.unseen {
			hashes := ws.hashes[u.hashed : (n-1)*nh+int(u.hashed)+1]
			for r, hit := range hits {
				if hit&u.baseBits != 0 {
					continue
				}
				flags[r*nc+u.index] = !u.oneHot(hashes[r*nh])
			}
		}
		return
	}
	for r := start; r < start+n; r++ {
		m.unseenRow(ws, b.Floats[r*nf:(r+1)*nf], b.Cats[r*nc:(r+1)*nc], out[r*nc:(r+1)*nc])
	}
}

// oneHot reports whether hash is one of u's one-hot values.
func (u *unseenFeature) oneHot(hash uint32) bool {
	if len(u.oneHots) <= 8 {
		return slices.Contains(u.oneHots, int32(hash))
	}
	_, found := slices.BinarySearch(u.oneHots, int32(hash))
	return found
}

// unseenRow writes one row's flags, hashing and looking up on its own (in
// ws.hashes' first row and ws.found).
func (m *Model) unseenRow(ws *workspace, floats []float64, cats []string, flags []bool) {
	e := m.ev
	hashes := ws.hashes[:len(e.hashed)]
	found := ws.found[:len(e.bases)]
	for p, j := range e.hashed {
		hashes[p] = CatHash(cats[j])
	}
	for bi := range e.bases {
		base := &e.bases[bi]
		found[bi] = base.table.lookup(e.projectionHash(base, floats, hashes)) != nil
	}
	for _, u := range m.unseen {
		seen := u.oneHot(hashes[u.hashed])
		for _, bi := range u.bases {
			seen = seen || found[bi]
		}
		flags[u.index] = !seen
	}
}
