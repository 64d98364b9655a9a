package catboost

import "github.com/loan-scorer/loan-scorer/model"

// This file is the row path: one row's values (float inputs with NaN
// replaced, CTR values, one-hot indicators) go into a float32 vector, and
// each tree compares vals[slot] > border directly. It serves single rows and
// small batches of oblivious models (compact per-tree structs, no
// binarization) and every batch of non-symmetric models.

// rowValues fills vals (nSlots values) for row r of b.
func (e *evaluator) rowValues(ws *workspace, b *model.Batch, r int, vals []float32) {
	nf, nc := b.NumFloat, b.NumCat
	floats := b.Floats[r*nf : r*nf+nf]
	for i, f := range e.floatInputs {
		x := floats[f]
		v := float32(x)
		if x != x {
			v = e.nanSub[f]
		}
		vals[i] = v
	}
	if len(e.hashed) == 0 {
		return
	}
	cats := b.Cats[r*nc : r*nc+nc]
	hashes := ws.hashes[:len(e.hashed)]
	for j, cat := range e.hashed {
		hashes[j] = CatHash(cats[cat])
	}
	for i, oh := range e.oneHots {
		vals[e.oneHotSlot0+i] = float32(b2u(int32(hashes[oh.hashed]) == oh.value))
	}
	for bi := range e.bases {
		base := &e.bases[bi]
		slot := base.table.lookup(e.projectionHash(base, floats, hashes))
		for k, ci := range base.ctrs {
			ctr := &e.ctrs[ci]
			v := ctr.unseen
			switch {
			case slot == nil:
			case k == 0:
				v = slot.first
			default:
				v = ctr.values[slot.idx]
			}
			vals[e.ctrSlot0+int(ci)] = v
		}
	}
}

// rowOblivious adds every oblivious tree's leaves for the row in ws.vals to
// sum (dim values), in tree order.
func (e *evaluator) rowOblivious(ws *workspace, sum []float64) {
	clear(sum)
	vals := (*[rowSlotsMax]float32)(ws.vals)
	if e.dim == 1 {
		var s float64
		for i := range e.rowTrees {
			t := &e.rowTrees[i]
			var idx uint32
			if t.depth == 6 {
				idx = b2u(vals[t.slots[0]] > t.borders[0]) |
					b2u(vals[t.slots[1]] > t.borders[1])<<1 |
					b2u(vals[t.slots[2]] > t.borders[2])<<2 |
					b2u(vals[t.slots[3]] > t.borders[3])<<3 |
					b2u(vals[t.slots[4]] > t.borders[4])<<4 |
					b2u(vals[t.slots[5]] > t.borders[5])<<5
			} else if t.depth == 8 {
				idx = b2u(vals[t.slots[0]] > t.borders[0]) |
					b2u(vals[t.slots[1]] > t.borders[1])<<1 |
					b2u(vals[t.slots[2]] > t.borders[2])<<2 |
					b2u(vals[t.slots[3]] > t.borders[3])<<3 |
					b2u(vals[t.slots[4]] > t.borders[4])<<4 |
					b2u(vals[t.slots[5]] > t.borders[5])<<5 |
					b2u(vals[t.slots[6]] > t.borders[6])<<6 |
					b2u(vals[t.slots[7]] > t.borders[7])<<7
			} else {
				for d := range t.depth {
					idx |= b2u(vals[t.slots[d&(rowTreeDepthMax-1)]] > t.borders[d&(rowTreeDepthMax-1)]) << d
				}
			}
			// e.leaves is padded: 256 values follow every tree's first leaf.
			s += (*[256]float64)(e.leaves[t.leafOff : t.leafOff+256])[idx&0xFF]
		}
		sum[0] = s
		return
	}
	dim := uint32(e.dim)
	for i := range e.rowTrees {
		t := &e.rowTrees[i]
		var idx uint32
		for d := range t.depth {
			idx |= b2u(vals[t.slots[d&(rowTreeDepthMax-1)]] > t.borders[d&(rowTreeDepthMax-1)]) << d
		}
		lf := e.leaves[t.leafOff+idx*dim : t.leafOff+idx*dim+dim]
		for k := range sum {
			sum[k] += lf[k]
		}
	}
}

// rowNonSymmetric walks every non-symmetric tree for the row in ws.vals.
func (e *evaluator) rowNonSymmetric(ws *workspace, sum []float64) {
	clear(sum)
	vals := ws.vals
	dim := uint32(e.dim)
	for _, root := range e.roots {
		n := int(root)
		for {
			nd := &e.nodes[n]
			diff := nd.left
			if vals[nd.slot] > nd.border {
				diff = nd.right
			}
			if diff == 0 {
				break
			}
			n += int(diff)
		}
		off := e.nodes[n].leafOff
		lf := e.leaves[off : off+dim]
		for k := range sum {
			sum[k] += lf[k]
		}
	}
}

// groupRows is how many rows walk a non-symmetric tree together: their
// node chains are independent, so the loads of one row overlap the others'.
const groupRows = 8

// slotStride is the distance between two rows' values in ws.group (at least
// one slot: pure leaf nodes read slot 0).
func (e *evaluator) slotStride() int { return max(e.nSlots, 1) }

// groupNonSymmetric sums every non-symmetric tree for rows [r0, r0+g) of b
// (g ≤ groupRows) into sums (g × dim values), in tree order. Each row walks
// exactly the tree's depth in steps, without branches: a node whose chosen
// side has no child has offset 0 and keeps the row in place, which is where
// CatBoost's walk stops.
func (e *evaluator) groupNonSymmetric(ws *workspace, b *model.Batch, r0, g int, sums []float64) {
	stride := e.slotStride()
	for r := range g {
		e.rowValues(ws, b, r0+r, ws.group[r*stride:(r+1)*stride])
	}
	dim := e.dim
	sums = sums[:g*dim]
	clear(sums)
	vals := ws.group[:g*stride]
	var at [groupRows]int32
	for t, root := range e.roots {
		cur := at[:g]
		for r := range cur {
			cur[r] = root
		}
		for range e.depths[t] {
			for r := range cur {
				nd := &e.nodes[cur[r]]
				right := b2u(vals[r*stride+int(nd.slot)] > nd.border)
				cur[r] += int32(uint32(nd.left)*(1-right) + uint32(nd.right)*right)
			}
		}
		for r, n := range cur {
			off := e.nodes[n].leafOff
			lf := e.leaves[off : off+uint32(dim)]
			s := sums[r*dim : r*dim+dim]
			for k := range s {
				s[k] += lf[k]
			}
		}
	}
}
