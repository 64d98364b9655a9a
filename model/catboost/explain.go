package catboost

import (
	"encoding/binary"
	"fmt"

	"github.com/loan-scorer/loan-scorer/model"
)

// This file is Model's model.Explainer: CatBoost's "Regular" SHAP values
// (get_feature_importance(type='ShapValues')) from the plan of
// shap_plan.go. Oblivious models reuse the evaluator's block path up to the
// leaf indexes, then add each leaf's precomputed values; non-symmetric
// models compute each row's values in each tree.

// Explained returns the output dimensions Explain writes per row: the
// model's dimension (1 for RMSEWithUncertainty, whose variance CatBoost does
// not explain), or an error wrapping model.ErrNoExplanation. The first call
// prepares the explanations (tens of milliseconds for hundreds of depth-6
// trees); later calls are free.
func (m *Model) Explained() (int, error) {
	p, err := m.shapPlan()
	if err != nil {
		return 0, err
	}
	return p.dims, nil
}

// Explain writes the SHAP values of every row of b into out in CatBoost's
// ShapValues layout (see model.Explainer): per row and explained dimension,
// one value per flat feature, then the expected value. They match
// CatBoost's own ShapValues for the model scaled by its scale; the values
// and the expected value of a row add up to its RawFormulaVal prediction.
// Errors wrap ErrBatch or model.ErrNoExplanation.
func (m *Model) Explain(b *model.Batch, out []float64) error {
	p, err := m.shapPlan()
	if err != nil {
		return err
	}
	if err := b.Check(&m.schema); err != nil {
		return fmt.Errorf("catboost explain: %w: %w", ErrBatch, err)
	}
	w := p.dims * (p.features + 1)
	if len(out) < b.Rows*w {
		return fmt.Errorf("catboost explain: output holds %d values, %d rows need %d: %w", len(out), b.Rows, b.Rows*w, ErrBatch)
	}
	ws := m.pool.Get().(*workspace)
	sc := m.shapPool.Get().(*shapScratch)
	for start := 0; start < b.Rows; start += blockRows {
		n := min(blockRows, b.Rows-start)
		rows := out[start*w : (start+n)*w]
		p.initRows(rows, n)
		if m.ev.symmetric {
			m.ev.binarizeBlock(ws, b, start, n)
			p.addOblivious(m.ev, ws, sc, rows, n)
			continue
		}
		for r := range n {
			m.ev.rowValues(ws, b, start+r, ws.vals)
			p.addNonSymmetric(m.ev, ws.vals, sc, rows[r*w:(r+1)*w])
		}
	}
	m.shapPool.Put(sc)
	m.pool.Put(ws)
	return nil
}

// shapPlan prepares the explanations on first use.
func (m *Model) shapPlan() (*shapPlan, error) {
	m.shapOnce.Do(func() {
		m.shap, m.shapErr = newShapPlan(m.def, m.ev, m.output, len(m.schema.Features))
		if m.shapErr == nil {
			p := m.shap
			m.shapPool.New = func() any {
				sc := p.newScratch()
				sc.leaves = make([]uint16, blockRows)
				return sc
			}
		}
	})
	return m.shap, m.shapErr
}

// initRows sets n rows of out to zero values and the expected value.
func (p *shapPlan) initRows(out []float64, n int) {
	clear(out)
	stride := p.features + 1
	for r := range n {
		for k, e := range p.expected {
			out[(r*p.dims+k)*stride+p.features] = e
		}
	}
}

// addOblivious adds every oblivious tree's values for the n rows of the
// block binarized in ws.
func (p *shapPlan) addOblivious(e *evaluator, ws *workspace, sc *shapScratch, rows []float64, n int) {
	w := p.dims * (p.features + 1)
	leaves := sc.leaves[:n]
	for t := range p.trees {
		st := &p.trees[t]
		e.leafIndexes(ws, t, n, sc.leaves)
		if st.table == nil {
			for r, leaf := range leaves {
				p.walkOblivious(sc, st, int(leaf))
				p.unpack(sc, st, rows[r*w:(r+1)*w], p.features+1, func(j int32) int { return int(st.classes.feats[j]) })
			}
			continue
		}
		feats := st.classes.feats
		k := len(feats)
		if k == 0 {
			continue
		}
		if p.dims == 1 {
			for r, leaf := range leaves {
				vals := st.table[int(leaf)*k : int(leaf)*k+k]
				row := rows[r*w : r*w+w]
				for j, f := range feats {
					row[f] += vals[j]
				}
			}
			continue
		}
		for r, leaf := range leaves {
			vals := st.table[int(leaf)*p.dims*k : (int(leaf)+1)*p.dims*k]
			for d := range p.dims {
				row := rows[r*w+d*(p.features+1) : r*w+(d+1)*(p.features+1)]
				dv := vals[d*k : d*k+k]
				for j, f := range feats {
					row[f] += dv[j]
				}
			}
		}
	}
}

// addNonSymmetric adds every non-symmetric tree's values for the row whose
// value slots are vals to row.
func (p *shapPlan) addNonSymmetric(e *evaluator, vals []float32, sc *shapScratch, row []float64) {
	for t := range p.trees {
		st := &p.trees[t]
		if len(st.classes.global) == 0 {
			continue // a single leaf credits nothing
		}
		for i, g := range st.evalNode {
			if g >= 0 {
				nd := &e.nodes[g]
				sc.goYes[i] = vals[nd.slot] > nd.border
			}
		}
		phi := sc.phi[:len(st.classes.global)*p.dims]
		clear(phi)
		sc.walker.Walk(&st.tree, sc.goYes, st.values, p.stride, p.dims, st.offset, phi)
		p.unpack(sc, st, row, p.features+1, func(j int32) int { return int(st.classes.feats[j]) })
	}
}

// leafIndexes writes the leaf index of oblivious tree t for the n rows of
// the block binarized in ws into leaves (at least the rows rounded up to a
// multiple of 8), with the block path's SWAR compares.
func (e *evaluator) leafIndexes(ws *workspace, t, n int, leaves []uint16) {
	tr := e.trees[t]
	lv := e.levels[tr.firstLevel : tr.firstLevel+tr.depth]
	words := (n + 7) / 8
	bins := ws.bins
	for w := range words {
		var lo, hi uint64
		for i, l := range lv {
			m := (binary.LittleEndian.Uint64(bins[int(l.off)+8*w:]) + l.k) & swarHigh
			if i < 8 {
				lo |= m >> (7 - i)
			} else {
				hi |= m >> (15 - i)
			}
		}
		out := leaves[8*w : 8*w+8]
		for r := range out {
			out[r] = uint16(lo>>(8*r)&0xFF | (hi>>(8*r)&0xFF)<<8)
		}
	}
}
