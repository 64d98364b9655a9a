package catboost

import "github.com/loan-scorer/loan-scorer/model"

// This file is the block path: a block of rows is binarized feature by
// feature into byte columns (float inputs, CTR values, one-hot indicators),
// then every oblivious tree is walked over eight rows at a time
// (evaluator-speed-notes.md, strategy 4a; kernels in eval_swar.go). It also
// holds the per-call workspace and the dispatch between the block and row
// paths.

// rowPathMaxRows bounds the blocks the row path handles (n < rowPathMaxRows)
// when the model fits it. Measured crossover: one 8-row SWAR word costs about
// as much as 4–5 rows through the row path (float fixtures and the
// loan-shaped model alike).
const rowPathMaxRows = 5

// workspace is the scratch memory of one Predict call, pooled.
type workspace struct {
	bins   []byte    // nCols × blockRows
	sums   []float64 // blockRows × dim
	hashes []uint32  // blockRows × len(hashed), row-major
	keys   []uint64  // CTR table keys: a block's rows, or a row's bases
	idx    []uint32  // blockRows: CTR table index, or notFound
	vals   []float32 // row path value slots, at least rowSlotsMax
	group  []float32 // groupRows rows of value slots, slotStride apart
	raw    []float64 // dim
	found  []bool    // per CTR table: the row's key has an entry (Unseen)
	// hits, when not nil, gets per block row a bit per CTR table (bit bi:
	// e.bases[bi]) whose lookup found the row's key: PredictUnseen's flags
	// come from the lookups binarizeBlock makes anyway.
	hits   []uint64
	hitBuf []uint64 // blockRows: what hits is set to
}

const notFound = ^uint32(0)

func (e *evaluator) newWorkspace() *workspace {
	nh := max(len(e.hashed), 1)
	return &workspace{
		bins:   make([]byte, e.nCols*blockRows+8),
		sums:   make([]float64, blockRows*e.dim),
		hashes: make([]uint32, blockRows*nh),
		keys:   make([]uint64, max(blockRows, len(e.bases))),
		idx:    make([]uint32, blockRows),
		vals:   make([]float32, max(e.nSlots, rowSlotsMax)),
		group:  make([]float32, groupRows*e.slotStride()),
		raw:    make([]float64, e.dim),
		found:  make([]bool, len(e.bases)),
		hitBuf: make([]uint64, blockRows),
	}
}

// maxHitBases bounds the CTR tables whose hits one uint64 per row records.
const maxHitBases = 64

// sumBlock leaves the tree sums (before scale and bias) of rows
// [start, start+n) in ws.sums, row-major, n ≤ blockRows. It reports
// whether it binarized the block: then ws.hashes holds the block's
// categorical hashes and, when ws.hits is set, ws.hits its CTR hits.
func (e *evaluator) sumBlock(ws *workspace, b *model.Batch, start, n int) (binarized bool) {
	if !e.symmetric {
		if n == 1 {
			// One row: a branchy walk beats the fixed-length one, whose
			// single chain of dependent loads nothing overlaps.
			e.rowValues(ws, b, start, ws.vals)
			e.rowNonSymmetric(ws, ws.sums[:e.dim])
			return false
		}
		for r := 0; r < n; r += groupRows {
			e.groupNonSymmetric(ws, b, start+r, min(groupRows, n-r), ws.sums[r*e.dim:])
		}
		return false
	}
	if e.rowTrees != nil && n < rowPathMaxRows {
		for r := range n {
			e.rowValues(ws, b, start+r, ws.vals)
			e.rowOblivious(ws, ws.sums[r*e.dim:(r+1)*e.dim])
		}
		return false
	}
	e.binarizeBlock(ws, b, start, n)
	e.treesBlock(ws, n)
	return true
}

// binarizeBlock fills ws.bins for rows [start, start+n).
func (e *evaluator) binarizeBlock(ws *workspace, b *model.Batch, start, n int) {
	nf := b.NumFloat
	floats := b.Floats[start*nf : (start+n)*nf]
	for c := range e.floatCols {
		col := &e.floatCols[c]
		f := int(col.src)
		sub := e.nanSub[f]
		out := ws.bins[c*blockRows : c*blockRows+n]
		for r := range out {
			x := floats[r*nf+f]
			v := float32(x)
			if x != x {
				v = sub
			}
			out[r] = col.z.bin(orderedKey(v))
		}
	}
	if len(e.hashed) == 0 {
		return
	}
	nh, nc := len(e.hashed), b.NumCat
	hashes := ws.hashes[:n*nh]
	cats := b.Cats[start*nc : (start+n)*nc]
	for r := range n {
		row := cats[r*nc : r*nc+nc]
		h := hashes[r*nh : r*nh+nh]
		for j, cat := range e.hashed {
			h[j] = CatHash(row[cat])
		}
	}
	for i, oh := range e.oneHots {
		c := e.oneHotCol0 + i
		out := ws.bins[c*blockRows : c*blockRows+n]
		for r := range out {
			out[r] = uint8(b2u(int32(hashes[r*nh+int(oh.hashed)]) == oh.value))
		}
	}
	idx := ws.idx[:n]
	var hits []uint64
	if ws.hits != nil {
		hits = ws.hits[:n]
		clear(hits)
	}
	for bi := range e.bases {
		base := &e.bases[bi]
		// Keys first, lookups after: the lookups of many rows are then
		// independent loads in flight together, which matters once the
		// tables outgrow the caches.
		keys := ws.keys[:n]
		for r := range keys {
			keys[r] = e.projectionHash(base, floats[r*nf:r*nf+nf], hashes[r*nh:r*nh+nh])
		}
		for r, key := range keys {
			i := notFound
			if s := base.table.lookup(key); s != nil {
				i = s.idx
			}
			idx[r] = i
		}
		if hits != nil {
			bit := uint64(1) << bi
			for r, i := range idx {
				if i != notFound {
					hits[r] |= bit
				}
			}
		}
		for _, ci := range base.ctrs {
			ctr := &e.ctrs[ci]
			unseen := uint32(len(ctr.values)) // index of the unseen value's bin
			for c, bins := range ctr.bins {
				at := (len(e.floatCols) + ctr.col0 + c) * blockRows
				out := ws.bins[at : at+n]
				for r, i := range idx {
					out[r] = bins[min(i, unseen)]
				}
			}
		}
	}
}

// projectionHash is the CTR table key of one row (spec §3.4): categorical
// hashes sign-extended, then float split bits, then one-hot bits.
func (e *evaluator) projectionHash(base *ctrBaseEval, floats []float64, hashes []uint32) uint64 {
	var h uint64
	for _, j := range base.cats {
		h = mixHash(h, catHashKey(hashes[j]))
	}
	for _, fs := range base.floatSplits {
		x := floats[fs.feature]
		v := float32(x)
		if x != x {
			v = e.nanSub[fs.feature]
		}
		h = mixHash(h, uint64(b2u(v > fs.border)))
	}
	for _, oh := range base.oneHotSplits {
		h = mixHash(h, uint64(b2u(int32(hashes[oh.hashed]) == oh.value)))
	}
	return h
}
