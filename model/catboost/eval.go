package catboost

import (
	"encoding/binary"

	"github.com/loan-scorer/loan-scorer/model"
)

// This file is the block path: a block of rows is binarized feature by
// feature into byte columns, then every oblivious tree is walked over eight
// rows at a time (evaluator-speed-notes.md, strategy 4a). Trees go in model
// order, so each row's sum sees the leaves in the same order as CatBoost's
// and comes out bit-identical.

// swarHigh selects bit 7 of each byte of a word.
const swarHigh = 0x8080808080808080

// rowPathMaxRows bounds the blocks the row path handles (n < rowPathMaxRows)
// when the model fits it. Measured crossover: one 8-row SWAR word costs about
// as much as 4–5 rows through the row path (float fixtures and the
// loan-shaped model alike).
const rowPathMaxRows = 5

// workspace is the scratch memory of one Predict call, pooled.
type workspace struct {
	bins    []byte    // nCols × blockRows
	sums    []float64 // blockRows × dim
	hashes  []uint32  // blockRows × len(hashed), row-major
	keys    []uint64  // blockRows: CTR table keys
	idx     []uint32  // blockRows: CTR table index, or notFound
	ctrVals []float32 // blockRows
	vals    []float32 // row path value slots, at least rowSlotsMax
	group   []float32 // groupRows rows of value slots, slotStride apart
	raw     []float64 // dim
}

const notFound = ^uint32(0)

func (e *evaluator) newWorkspace() *workspace {
	nh := max(len(e.hashed), 1)
	return &workspace{
		bins:    make([]byte, e.nCols*blockRows+8),
		sums:    make([]float64, blockRows*e.dim),
		hashes:  make([]uint32, blockRows*nh),
		keys:    make([]uint64, blockRows),
		idx:     make([]uint32, blockRows),
		ctrVals: make([]float32, blockRows),
		vals:    make([]float32, max(e.nSlots, rowSlotsMax)),
		group:   make([]float32, groupRows*e.slotStride()),
		raw:     make([]float64, e.dim),
	}
}

// sumBlock leaves the tree sums (before scale and bias) of rows
// [start, start+n) in ws.sums, row-major, n ≤ blockRows.
func (e *evaluator) sumBlock(ws *workspace, b *model.Batch, start, n int) {
	if !e.symmetric {
		if n == 1 {
			// One row: a branchy walk beats the fixed-length one, whose
			// single chain of dependent loads nothing overlaps.
			e.rowValues(ws, b, start, ws.vals)
			e.rowNonSymmetric(ws, ws.sums[:e.dim])
			return
		}
		for r := 0; r < n; r += groupRows {
			e.groupNonSymmetric(ws, b, start+r, min(groupRows, n-r), ws.sums[r*e.dim:])
		}
		return
	}
	if e.rowTrees != nil && n < rowPathMaxRows {
		for r := range n {
			e.rowValues(ws, b, start+r, ws.vals)
			e.rowOblivious(ws, ws.sums[r*e.dim:(r+1)*e.dim])
		}
		return
	}
	e.binarizeBlock(ws, b, start, n)
	e.treesBlock(ws, n)
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
	vals := ws.ctrVals[:n]
	for bi := range e.bases {
		base := &e.bases[bi]
		first := &e.ctrs[base.ctrs[0]]
		// Keys first, lookups after: the lookups of many rows are then
		// independent loads in flight together, which matters once the
		// tables outgrow the caches.
		keys := ws.keys[:n]
		for r := range keys {
			keys[r] = e.projectionHash(base, floats[r*nf:r*nf+nf], hashes[r*nh:r*nh+nh])
		}
		for r, key := range keys {
			i, v := notFound, first.unseen
			if s := base.table.lookup(key); s != nil {
				i, v = s.idx, s.first
			}
			idx[r], vals[r] = i, v
		}
		for k, ci := range base.ctrs {
			ctr := &e.ctrs[ci]
			if k > 0 {
				for r, i := range idx {
					v := ctr.unseen
					if i != notFound {
						v = ctr.values[i]
					}
					vals[r] = v
				}
			}
			for c := range ctr.ncols {
				col := &e.ctrCols[ctr.col0+c]
				at := (len(e.floatCols) + ctr.col0 + c) * blockRows
				out := ws.bins[at : at+n]
				for r, v := range vals {
					out[r] = col.z.bin(orderedKey(v))
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

// treesBlock sums every oblivious tree over the binarized block.
func (e *evaluator) treesBlock(ws *workspace, n int) {
	words := (n + 7) / 8
	dim := e.dim
	sums := ws.sums[:words*8*dim]
	clear(sums)
	bins := ws.bins
	for ti := 0; ti < len(e.trees); ti++ {
		t := e.trees[ti]
		lv := e.levels[t.firstLevel : t.firstLevel+t.depth]
		if dim == 1 && t.depth == 6 && ti+1 < len(e.trees) && e.trees[ti+1].depth == 6 {
			// Two trees per pass: each row's sum is loaded and stored once
			// for both (still added in tree order: (s + a) + b).
			u := e.trees[ti+1]
			treeWords6x2((*[6]level)(lv), (*[6]level)(e.levels[u.firstLevel:u.firstLevel+6]), bins,
				(*[256]float64)(e.leaves[t.leafOff:t.leafOff+256]), (*[256]float64)(e.leaves[u.leafOff:u.leafOff+256]), sums, words)
			ti++
			continue
		}
		if dim == 1 && t.depth <= 8 {
			// e.leaves is padded so that 256 values follow every tree's first
			// leaf: byte-sized indexes need no bounds checks.
			leaves := (*[256]float64)(e.leaves[t.leafOff : t.leafOff+256])
			switch t.depth {
			case 6:
				treeWords6((*[6]level)(lv), bins, leaves, sums, words)
			case 8:
				treeWords8((*[8]level)(lv), bins, leaves, sums, words)
			default:
				treeWords1(lv, bins, leaves, sums, words)
			}
			continue
		}
		leaves := e.leaves[t.leafOff : t.leafOff+uint32(dim)<<t.depth]
		if t.depth <= 8 {
			treeWordsDim(lv, bins, leaves, sums, words, dim)
			continue
		}
		for w := range words {
			var lo, hi uint64
			for i, l := range lv {
				word := binary.LittleEndian.Uint64(bins[int(l.off)+8*w:])
				m := (word + l.k) & swarHigh
				if i < 8 {
					lo |= m >> (7 - i)
				} else {
					hi |= m >> (15 - i)
				}
			}
			for r := range 8 {
				leaf := int((lo>>(8*r))&0xFF | ((hi>>(8*r))&0xFF)<<8)
				s := sums[(8*w+r)*dim : (8*w+r+1)*dim]
				lf := leaves[leaf*dim : leaf*dim+dim]
				for k := range s {
					s[k] += lf[k]
				}
			}
		}
	}
}

// column returns the bins of the column starting at off.
func binColumn(bins []byte, off uint32) *[blockRows]byte {
	return (*[blockRows]byte)(bins[off : off+blockRows])
}

// word8 loads the bins of rows 8w..8w+7 of a column.
func word8(col *[blockRows]byte, w int) uint64 {
	return binary.LittleEndian.Uint64(col[(8*w)&(blockRows-8):])
}

// addLeaves8 adds the leaves picked by the eight index bytes of idx to s.
func addLeaves8(s *[8]float64, leaves *[256]float64, idx uint64) {
	s[0] += leaves[idx&0xFF]
	s[1] += leaves[(idx>>8)&0xFF]
	s[2] += leaves[(idx>>16)&0xFF]
	s[3] += leaves[(idx>>24)&0xFF]
	s[4] += leaves[(idx>>32)&0xFF]
	s[5] += leaves[(idx>>40)&0xFF]
	s[6] += leaves[(idx>>48)&0xFF]
	s[7] += leaves[idx>>56]
}

// treeWords6 is treeWords1 unrolled for depth 6, CatBoost's default.
func treeWords6(lv *[6]level, bins []byte, leaves *[256]float64, sums []float64, words int) {
	c0, c1, c2 := binColumn(bins, lv[0].off), binColumn(bins, lv[1].off), binColumn(bins, lv[2].off)
	c3, c4, c5 := binColumn(bins, lv[3].off), binColumn(bins, lv[4].off), binColumn(bins, lv[5].off)
	k0, k1, k2, k3, k4, k5 := lv[0].k, lv[1].k, lv[2].k, lv[3].k, lv[4].k, lv[5].k
	for w := range words {
		idx := (word8(c0, w)+k0)&swarHigh>>7 |
			(word8(c1, w)+k1)&swarHigh>>6 |
			(word8(c2, w)+k2)&swarHigh>>5 |
			(word8(c3, w)+k3)&swarHigh>>4 |
			(word8(c4, w)+k4)&swarHigh>>3 |
			(word8(c5, w)+k5)&swarHigh>>2
		addLeaves8((*[8]float64)(sums[8*w:8*w+8]), leaves, idx)
	}
}

// treeWords6x2 walks two consecutive depth-6 trees a and b.
func treeWords6x2(la, lb *[6]level, bins []byte, leavesA, leavesB *[256]float64, sums []float64, words int) {
	a0, a1, a2 := binColumn(bins, la[0].off), binColumn(bins, la[1].off), binColumn(bins, la[2].off)
	a3, a4, a5 := binColumn(bins, la[3].off), binColumn(bins, la[4].off), binColumn(bins, la[5].off)
	b0, b1, b2 := binColumn(bins, lb[0].off), binColumn(bins, lb[1].off), binColumn(bins, lb[2].off)
	b3, b4, b5 := binColumn(bins, lb[3].off), binColumn(bins, lb[4].off), binColumn(bins, lb[5].off)
	for w := range words {
		ia := (word8(a0, w)+la[0].k)&swarHigh>>7 |
			(word8(a1, w)+la[1].k)&swarHigh>>6 |
			(word8(a2, w)+la[2].k)&swarHigh>>5 |
			(word8(a3, w)+la[3].k)&swarHigh>>4 |
			(word8(a4, w)+la[4].k)&swarHigh>>3 |
			(word8(a5, w)+la[5].k)&swarHigh>>2
		ib := (word8(b0, w)+lb[0].k)&swarHigh>>7 |
			(word8(b1, w)+lb[1].k)&swarHigh>>6 |
			(word8(b2, w)+lb[2].k)&swarHigh>>5 |
			(word8(b3, w)+lb[3].k)&swarHigh>>4 |
			(word8(b4, w)+lb[4].k)&swarHigh>>3 |
			(word8(b5, w)+lb[5].k)&swarHigh>>2
		s := (*[8]float64)(sums[8*w : 8*w+8])
		s[0] = s[0] + leavesA[ia&0xFF] + leavesB[ib&0xFF]
		s[1] = s[1] + leavesA[(ia>>8)&0xFF] + leavesB[(ib>>8)&0xFF]
		s[2] = s[2] + leavesA[(ia>>16)&0xFF] + leavesB[(ib>>16)&0xFF]
		s[3] = s[3] + leavesA[(ia>>24)&0xFF] + leavesB[(ib>>24)&0xFF]
		s[4] = s[4] + leavesA[(ia>>32)&0xFF] + leavesB[(ib>>32)&0xFF]
		s[5] = s[5] + leavesA[(ia>>40)&0xFF] + leavesB[(ib>>40)&0xFF]
		s[6] = s[6] + leavesA[(ia>>48)&0xFF] + leavesB[(ib>>48)&0xFF]
		s[7] = s[7] + leavesA[ia>>56] + leavesB[ib>>56]
	}
}

// treeWords8 is treeWords1 unrolled for depth 8.
func treeWords8(lv *[8]level, bins []byte, leaves *[256]float64, sums []float64, words int) {
	c0, c1, c2, c3 := binColumn(bins, lv[0].off), binColumn(bins, lv[1].off), binColumn(bins, lv[2].off), binColumn(bins, lv[3].off)
	c4, c5, c6, c7 := binColumn(bins, lv[4].off), binColumn(bins, lv[5].off), binColumn(bins, lv[6].off), binColumn(bins, lv[7].off)
	for w := range words {
		idx := (word8(c0, w)+lv[0].k)&swarHigh>>7 |
			(word8(c1, w)+lv[1].k)&swarHigh>>6 |
			(word8(c2, w)+lv[2].k)&swarHigh>>5 |
			(word8(c3, w)+lv[3].k)&swarHigh>>4 |
			(word8(c4, w)+lv[4].k)&swarHigh>>3 |
			(word8(c5, w)+lv[5].k)&swarHigh>>2 |
			(word8(c6, w)+lv[6].k)&swarHigh>>1 |
			(word8(c7, w)+lv[7].k)&swarHigh
		addLeaves8((*[8]float64)(sums[8*w:8*w+8]), leaves, idx)
	}
}

// treeWordsDim walks one tree of depth ≤ 8 with dim > 1 output dimensions.
func treeWordsDim(lv []level, bins []byte, leaves []float64, sums []float64, words, dim int) {
	for w := range words {
		var idx uint64
		for i, l := range lv {
			idx |= ((word8(binColumn(bins, l.off), w) + l.k) & swarHigh) >> (7 - i)
		}
		row := sums[8*w*dim : 8*(w+1)*dim]
		for r := range 8 {
			leaf := int(idx>>(8*r)&0xFF) * dim
			s := row[r*dim : r*dim+dim]
			lf := leaves[leaf : leaf+dim]
			lf = lf[:len(s)]
			for k := range s {
				s[k] += lf[k]
			}
		}
	}
}

// treeWords1 walks one tree of depth ≤ 8 with one output dimension over
// words×8 rows: byte r of idx collects row r's leaf index.
func treeWords1(lv []level, bins []byte, leaves *[256]float64, sums []float64, words int) {
	for w := range words {
		var idx uint64
		for i, l := range lv {
			idx |= ((word8(binColumn(bins, l.off), w) + l.k) & swarHigh) >> (7 - i)
		}
		addLeaves8((*[8]float64)(sums[8*w:8*w+8]), leaves, idx)
	}
}
