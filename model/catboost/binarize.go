package catboost

import (
	"math"
	"math/bits"
	"slices"
)

// This file turns float32 values (inputs and CTR values) into byte bins
// without branches (evaluator-speed-notes.md, "bucket table on keys").
//
// A bin is the number of a column's borders that the value is greater than,
// so the split "value > borders[k]" is "bin ≥ k+1". Values are compared as
// order-preserving uint32 keys; a small table indexed by the key's high bits
// gives a starting count, and a fixed number of independent compares
// finishes it.

// maxColumnBorders is the number of borders one byte column holds. Bins then
// stay ≤ 127, which lets the SWAR test (bin + 0x80 - t) & 0x80 run on eight
// rows at once without carries; features with more borders are split into
// several columns, as CatBoost splits them into blocks of 254.
const maxColumnBorders = 127

// binTableBits and binTableBitsMax bound the size of a column's bucket
// table (2^bits bytes); binSpanGoal is the most compares per value the
// table size is raised to reach.
const (
	binTableBits    = 10
	binTableBitsMax = 14
	binSpanGoal     = 8
)

// orderedKey maps a float32 to a uint32 whose unsigned order is the float
// order, with -0 and +0 equal. NaN must be replaced before.
func orderedKey(f float32) uint32 {
	u := math.Float32bits(f + 0) // f + 0 turns -0 into +0 and leaves the rest
	return u ^ (uint32(int32(u)>>31) | 0x80000000)
}

// binarizer holds one column's borders as keys (padded with max keys so
// the counting loop never runs off the end) and its bucket table.
type binarizer struct {
	keys  []uint32 // sorted border keys, then span × 0xFFFFFFFF
	table []uint8  // table[(clamp(key) - lo) >> shift] = borders below the bucket
	lo    uint32
	hi    uint32
	shift uint8
	span  int // the most borders in one bucket: the compares per value
}

// newBinarizer builds the binarizer of sorted unique borders (at most
// maxColumnBorders of them, at least one). The table starts at 2^10 buckets
// and grows (up to 2^14) while some bucket holds more than binSpanGoal
// borders, which happens when borders cluster far from an outlier.
func newBinarizer(borders []float32) binarizer {
	keys := make([]uint32, len(borders))
	for i, b := range borders {
		keys[i] = orderedKey(b)
	}
	var z binarizer
	for tableBits := binTableBits; tableBits <= binTableBitsMax; tableBits += 2 {
		z = bucketTable(keys, tableBits)
		if z.span <= binSpanGoal {
			break
		}
	}
	z.keys = make([]uint32, len(keys)+z.span)
	copy(z.keys, keys)
	for i := len(keys); i < len(z.keys); i++ {
		z.keys[i] = math.MaxUint32
	}
	return z
}

// bucketTable returns the table, range and span of keys for a table of at
// most 2^tableBits buckets (keys left unset).
func bucketTable(keys []uint32, tableBits int) binarizer {
	lo, hi := keys[0], keys[len(keys)-1]
	shift := uint8(max(0, bits.Len32(hi-lo)-tableBits))
	n := int((hi-lo)>>shift) + 1
	z := binarizer{lo: lo, hi: hi, shift: shift, table: make([]uint8, n)}
	for i := range z.table {
		start := uint64(lo) + uint64(i)<<shift
		below, _ := slices.BinarySearchFunc(keys, start, func(k uint32, s uint64) int {
			if uint64(k) < s {
				return -1
			}
			return 1
		})
		z.table[i] = uint8(below)
		if i > 0 {
			z.span = max(z.span, below-int(z.table[i-1]))
		}
	}
	z.span = max(z.span, len(keys)-int(z.table[n-1]), 1)
	return z
}

// bin returns the number of borders strictly below key.
func (z *binarizer) bin(key uint32) uint8 {
	c := min(max(key, z.lo), z.hi)
	b := uint32(z.table[(c-z.lo)>>z.shift])
	for _, k := range z.keys[b : int(b)+z.span] {
		b += b2u(k < key)
	}
	return uint8(b)
}

// b2u is 1 for true and 0 for false; the compiler emits SETcc, not a branch.
func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// columnBlocks splits sorted borders into blocks of maxColumnBorders.
func columnBlocks(borders []float32) [][]float32 {
	var out [][]float32
	for len(borders) > maxColumnBorders {
		out = append(out, borders[:maxColumnBorders])
		borders = borders[maxColumnBorders:]
	}
	return append(out, borders)
}
