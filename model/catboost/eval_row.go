package catboost

import (
	"math"

	"github.com/loan-scorer/loan-scorer/model"
)

// This file is the row path: one row's values (float inputs with NaN
// replaced, CTR values, one-hot indicators) go into a float32 vector, and
// each tree compares vals[slot] > border directly, without binarization. It
// serves batches of fewer than rowPathMaxRows rows of oblivious models
// (compact per-tree structs) and every batch of non-symmetric models (one
// row alone with a branchy walk, groups of eight rows with a branch-free
// walk).

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
	// All keys first, then the probes: the tables' cache misses overlap.
	keys := ws.keys[:len(e.bases)]
	for bi := range e.bases {
		keys[bi] = e.projectionHash(&e.bases[bi], floats, hashes)
	}
	for bi := range e.bases {
		base := &e.bases[bi]
		slot := base.table.lookup(keys[bi])
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
			// Horner form, deepest level first: each level is one LEA.
			if t.depth == 6 {
				idx = b2u(vals[t.slots[5]] > t.borders[5])
				idx = idx*2 + b2u(vals[t.slots[4]] > t.borders[4])
				idx = idx*2 + b2u(vals[t.slots[3]] > t.borders[3])
				idx = idx*2 + b2u(vals[t.slots[2]] > t.borders[2])
				idx = idx*2 + b2u(vals[t.slots[1]] > t.borders[1])
				idx = idx*2 + b2u(vals[t.slots[0]] > t.borders[0])
			} else if t.depth == 8 {
				// Sixteen float operands do not fit the registers with
				// compares (the compiler hoists every load and spills);
				// above needs no flags and interleaves. Measured on the
				// depth-8 fixture: 4.1 against 4.5 ns/tree; at depth 6 the
				// compares win (3.4 against 3.5).
				idx = above(vals[t.slots[7]], t.borders[7])
				idx = idx*2 + above(vals[t.slots[6]], t.borders[6])
				idx = idx*2 + above(vals[t.slots[5]], t.borders[5])
				idx = idx*2 + above(vals[t.slots[4]], t.borders[4])
				idx = idx*2 + above(vals[t.slots[3]], t.borders[3])
				idx = idx*2 + above(vals[t.slots[2]], t.borders[2])
				idx = idx*2 + above(vals[t.slots[1]], t.borders[1])
				idx = idx*2 + above(vals[t.slots[0]], t.borders[0])
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

// above is 1 when v > border and 0 otherwise, for v not NaN and border
// finite and not -0 (compile stores +0): the sign of border − v. IEEE
// subtraction of two different floats is never zero (subnormals included),
// equal ones give +0, and an infinite v gives an infinity of the right sign.
func above(v, border float32) uint32 { return math.Float32bits(border-v) >> 31 }

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
	if g == groupRows && dim == 1 {
		e.groupNonSymmetric8(vals, stride, (*[groupRows]float64)(sums))
		return
	}
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

// groupNonSymmetric8 is groupNonSymmetric for a full group and one
// dimension, with the eight rows' node indexes in registers.
func (e *evaluator) groupNonSymmetric8(vals []float32, stride int, sums *[groupRows]float64) {
	nodes, leaves := e.nodes, e.leaves
	v0, v1, v2, v3 := vals[0*stride:1*stride], vals[1*stride:2*stride], vals[2*stride:3*stride], vals[3*stride:4*stride]
	v4, v5, v6, v7 := vals[4*stride:5*stride], vals[5*stride:6*stride], vals[6*stride:7*stride], vals[7*stride:8*stride]
	for t, root := range e.roots {
		n0, n1, n2, n3, n4, n5, n6, n7 := root, root, root, root, root, root, root, root
		for range e.depths[t] {
			n0 = nodeStep(nodes, n0, v0)
			n1 = nodeStep(nodes, n1, v1)
			n2 = nodeStep(nodes, n2, v2)
			n3 = nodeStep(nodes, n3, v3)
			n4 = nodeStep(nodes, n4, v4)
			n5 = nodeStep(nodes, n5, v5)
			n6 = nodeStep(nodes, n6, v6)
			n7 = nodeStep(nodes, n7, v7)
		}
		sums[0] += leaves[nodes[n0].leafOff]
		sums[1] += leaves[nodes[n1].leafOff]
		sums[2] += leaves[nodes[n2].leafOff]
		sums[3] += leaves[nodes[n3].leafOff]
		sums[4] += leaves[nodes[n4].leafOff]
		sums[5] += leaves[nodes[n5].leafOff]
		sums[6] += leaves[nodes[n6].leafOff]
		sums[7] += leaves[nodes[n7].leafOff]
	}
}

// nodeStep moves a row one step down a non-symmetric tree: to the right
// child when vals[slot] > border, else to the left one; an offset of 0 (no
// child that side) keeps it in place.
func nodeStep(nodes []nodeEval, n int32, vals []float32) int32 {
	nd := &nodes[n]
	right := -b2u(vals[nd.slot] > nd.border) // all ones when true
	left := uint32(nd.left)
	return n + int32(left^((left^uint32(nd.right))&right))
}
