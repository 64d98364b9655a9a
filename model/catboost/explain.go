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
				sc.acc = make([]float64, (p.features+1)*explainChunkRows)
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

// explainChunkRows is how many rows of a block take every tree together.
// A whole block measured best: the sums (explainChunkRows float64s a
// feature, 150 KiB for the loan model) stay in L2 while each tree's table
// (3 KiB at depth 6) is read once from L1; smaller chunks re-read every
// table per chunk.
const explainChunkRows = 1024

// addOblivious adds every oblivious tree's values for the n rows of the
// block binarized in ws.
func (p *shapPlan) addOblivious(e *evaluator, ws *workspace, sc *shapScratch, rows []float64, n int) {
	w := p.dims * (p.features + 1)
	for c0 := 0; c0 < n; c0 += explainChunkRows {
		c1 := min(n, c0+explainChunkRows)
		acc := sc.acc
		for f := range p.features + 1 {
			clear(acc[f*explainChunkRows : f*explainChunkRows+c1-c0])
		}
		for t := range p.trees {
			st := &p.trees[t]
			tr := e.trees[t]
			lv := e.levels[tr.firstLevel : tr.firstLevel+tr.depth]
			if st.narrow {
				addNarrow(lv, ws.bins, c0, c1, st.table[:len(st.table)+narrowWidth], st.stride, &st.cols, acc)
				continue
			}
			leaves := sc.leaves[c0:c1]
			leafIndexes(lv, ws.bins, c0/8, (c1+7)/8, sc.leaves)
			for i, leaf := range leaves {
				row := rows[(c0+i)*w : (c0+i+1)*w]
				if st.table == nil {
					p.walkOblivious(sc, st, int(leaf))
					p.unpack(sc, st, row, p.features+1, func(j int32) int { return int(st.classes.feats[j]) })
					continue
				}
				feats := st.classes.feats
				k := len(feats)
				vals := st.table[int(leaf)*p.dims*st.stride : (int(leaf)+1)*p.dims*st.stride]
				for d := range p.dims {
					out := row[d*(p.features+1) : (d+1)*(p.features+1)]
					dv := vals[d*st.stride : d*st.stride+k]
					for j, f := range feats {
						out[f] += dv[j]
					}
				}
			}
		}
		if p.dims == 1 {
			for f := range p.features {
				col := acc[f*explainChunkRows : f*explainChunkRows+c1-c0]
				for r, v := range col {
					rows[(c0+r)*w+f] += v
				}
			}
		}
	}
}

// addNarrow adds a narrow table's values (stride values a leaf, at most
// narrowWidth) to the sums of rows [c0, c1) of the binarized block. acc is
// feature-major: feature f of row c0+r is acc[f*explainChunkRows+r], so one
// feature of a word's eight rows is one cache line. Each SWAR word's eight
// leaf indexes come out of the level compares and go straight to the table.
// table must have narrowWidth values past its last leaf.
func addNarrow(lv []level, bins []byte, c0, c1 int, table []float64, stride int, cols *[narrowWidth]int32, acc []float64) {
	for w := c0 / 8; w < (c1+7)/8; w++ {
		var idx uint64
		for i, l := range lv {
			idx |= ((word8(binColumn(bins, l.off), w) + l.k) & swarHigh) >> (7 - i)
		}
		if rows := c1 - 8*w; rows < 8 {
			// A partial word (a batch's last rows, or a lone row): only
			// its own rows, not eight.
			for r := range rows {
				at := int(idx>>(8*r)&0xFF) * stride
				for j, f := range cols[:stride] {
					acc[int(f)*explainChunkRows+8*w+r-c0] += table[at+j]
				}
			}
			continue
		}
		leaf := func(r int) *[narrowWidth]float64 {
			at := int(idx>>(8*r)&0xFF) * stride
			return (*[narrowWidth]float64)(table[at : at+narrowWidth])
		}
		v0, v1, v2, v3, v4, v5, v6, v7 := leaf(0), leaf(1), leaf(2), leaf(3), leaf(4), leaf(5), leaf(6), leaf(7)
		base := 8*w - c0
		for j := range stride {
			j &= narrowWidth - 1
			f := int(cols[j])
			col := (*[8]float64)(acc[f*explainChunkRows+base : f*explainChunkRows+base+8])
			col[0] += v0[j]
			col[1] += v1[j]
			col[2] += v2[j]
			col[3] += v3[j]
			col[4] += v4[j]
			col[5] += v5[j]
			col[6] += v6[j]
			col[7] += v7[j]
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

// leafIndexes writes the leaf indexes of an oblivious tree (its levels lv)
// for the rows of SWAR words [w0, w1) of the binarized block into
// leaves[8·w0 : 8·w1], with the block path's compares.
func leafIndexes(lv []level, bins []byte, w0, w1 int, leaves []uint16) {
	for w := w0; w < w1; w++ {
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
