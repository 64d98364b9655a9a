package catboost

import "encoding/binary"

// This file holds the SWAR kernels of the block path. A block's bins are
// byte columns of blockRows rows; for a split "bin ≥ t" and a word w of
// eight rows' bins, (w + 0x0101…01·(0x80 − t)) & 0x8080…80 has bit 7 of
// byte r set iff row r's bin ≥ t (bins ≤ 127, so no carry crosses bytes).
// Shifting level d's mask right by 7 − d and OR-ing the levels leaves row
// r's leaf index in byte r. Trees go outer, rows inner, so one tree's leaves
// stay in L1 while it sweeps the block, and every row still adds its leaves
// in tree order (bit-identical sums).

// swarHigh selects bit 7 of each byte of a word.
const swarHigh = 0x8080808080808080

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
		if dim == 1 && t.depth == 6 && ti+3 < len(e.trees) && e.trees[ti+1].depth == 6 &&
			e.trees[ti+2].depth == 6 && e.trees[ti+3].depth == 6 {
			// Four trees per pass: each row's sum is loaded and stored once
			// for all four (still added in tree order: ((s + a) + b) + ...).
			var lv4 [4]*[6]level
			var lf4 [4]*[256]float64
			for k := range 4 {
				u := e.trees[ti+k]
				lv4[k] = (*[6]level)(e.levels[u.firstLevel : u.firstLevel+6])
				lf4[k] = (*[256]float64)(e.leaves[u.leafOff : u.leafOff+256])
			}
			treeWords6x4(&lv4, bins, &lf4, sums, words)
			ti += 3
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

// treeWords6x4 walks four consecutive depth-6 trees.
func treeWords6x4(lv *[4]*[6]level, bins []byte, leaves *[4]*[256]float64, sums []float64, words int) {
	la, lb, lc, ld := lv[0], lv[1], lv[2], lv[3]
	a0, a1, a2 := binColumn(bins, la[0].off), binColumn(bins, la[1].off), binColumn(bins, la[2].off)
	a3, a4, a5 := binColumn(bins, la[3].off), binColumn(bins, la[4].off), binColumn(bins, la[5].off)
	b0, b1, b2 := binColumn(bins, lb[0].off), binColumn(bins, lb[1].off), binColumn(bins, lb[2].off)
	b3, b4, b5 := binColumn(bins, lb[3].off), binColumn(bins, lb[4].off), binColumn(bins, lb[5].off)
	c0, c1, c2 := binColumn(bins, lc[0].off), binColumn(bins, lc[1].off), binColumn(bins, lc[2].off)
	c3, c4, c5 := binColumn(bins, lc[3].off), binColumn(bins, lc[4].off), binColumn(bins, lc[5].off)
	d0, d1, d2 := binColumn(bins, ld[0].off), binColumn(bins, ld[1].off), binColumn(bins, ld[2].off)
	d3, d4, d5 := binColumn(bins, ld[3].off), binColumn(bins, ld[4].off), binColumn(bins, ld[5].off)
	fa, fb, fc, fd := leaves[0], leaves[1], leaves[2], leaves[3]
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
		ic := (word8(c0, w)+lc[0].k)&swarHigh>>7 |
			(word8(c1, w)+lc[1].k)&swarHigh>>6 |
			(word8(c2, w)+lc[2].k)&swarHigh>>5 |
			(word8(c3, w)+lc[3].k)&swarHigh>>4 |
			(word8(c4, w)+lc[4].k)&swarHigh>>3 |
			(word8(c5, w)+lc[5].k)&swarHigh>>2
		id := (word8(d0, w)+ld[0].k)&swarHigh>>7 |
			(word8(d1, w)+ld[1].k)&swarHigh>>6 |
			(word8(d2, w)+ld[2].k)&swarHigh>>5 |
			(word8(d3, w)+ld[3].k)&swarHigh>>4 |
			(word8(d4, w)+ld[4].k)&swarHigh>>3 |
			(word8(d5, w)+ld[5].k)&swarHigh>>2
		s := (*[8]float64)(sums[8*w : 8*w+8])
		s[0] = s[0] + fa[ia&0xFF] + fb[ib&0xFF] + fc[ic&0xFF] + fd[id&0xFF]
		s[1] = s[1] + fa[(ia>>8)&0xFF] + fb[(ib>>8)&0xFF] + fc[(ic>>8)&0xFF] + fd[(id>>8)&0xFF]
		s[2] = s[2] + fa[(ia>>16)&0xFF] + fb[(ib>>16)&0xFF] + fc[(ic>>16)&0xFF] + fd[(id>>16)&0xFF]
		s[3] = s[3] + fa[(ia>>24)&0xFF] + fb[(ib>>24)&0xFF] + fc[(ic>>24)&0xFF] + fd[(id>>24)&0xFF]
		s[4] = s[4] + fa[(ia>>32)&0xFF] + fb[(ib>>32)&0xFF] + fc[(ic>>32)&0xFF] + fd[(id>>32)&0xFF]
		s[5] = s[5] + fa[(ia>>40)&0xFF] + fb[(ib>>40)&0xFF] + fc[(ic>>40)&0xFF] + fd[(id>>40)&0xFF]
		s[6] = s[6] + fa[(ia>>48)&0xFF] + fb[(ib>>48)&0xFF] + fc[(ic>>48)&0xFF] + fd[(id>>48)&0xFF]
		s[7] = s[7] + fa[ia>>56] + fb[ib>>56] + fc[ic>>56] + fd[id>>56]
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
