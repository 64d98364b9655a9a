package catboost

import "math/bits"

// calc is TModelCtr::Calc: ((a + PriorNum) / (b + PriorDenom) + Shift) * Scale,
// every step rounded to float32 as CatBoost computes it (spec §3.5, pitfall 3).
// The explicit conversions forbid the compiler from fusing or widening steps.
func (c *Ctr) calc(a, b float32) float32 {
	q := float32(float32(a+c.PriorNum) / float32(b+c.PriorDenom))
	return float32(float32(q+c.Shift) * c.Scale)
}

// value returns the CTR value for the counters at index idx of t, or the
// prior-only value of an unseen combination when found is false (spec §3.5).
func (c *Ctr) value(t *CtrTable, idx uint32, found bool) float32 {
	switch c.Base.Type {
	case CtrBinarizedTargetMeanValue, CtrFloatTargetMeanValue:
		if !found {
			return c.calc(0, 0)
		}
		m := t.Means[idx]
		return c.calc(m.Sum, float32(m.Count))
	case CtrCounter, CtrFeatureFreq:
		denom := float32(t.CounterDenominator)
		if !found {
			return c.calc(0, denom)
		}
		return c.calc(float32(t.Counters[idx]), denom)
	case CtrBuckets:
		if !found {
			return c.calc(0, 0)
		}
		k := t.TargetClassesCount
		counts := t.Counters[int(idx)*k : int(idx)*k+k]
		var total int64
		for _, n := range counts {
			total += int64(n)
		}
		return c.calc(float32(counts[c.TargetBorderIdx]), float32(total))
	default: // CtrBorders
		if !found {
			return c.calc(0, 0)
		}
		k := t.TargetClassesCount
		counts := t.Counters[int(idx)*k : int(idx)*k+k]
		if k == 2 {
			return c.calc(float32(counts[1]), float32(int64(counts[0])+int64(counts[1])))
		}
		var total, good int64
		for i, n := range counts {
			if i <= c.TargetBorderIdx {
				total += int64(n)
			} else {
				good += int64(n)
			}
		}
		total += good
		return c.calc(float32(good), float32(total))
	}
}

// hashTable is a flat open-addressing map from projection hash to counter
// index: on large CTR tables it is about 1.5 times faster than a Go map
// (evaluator-speed-notes.md). Keys equal to emptyHashKey mark empty slots;
// such a projection hash is never found, as in CatBoost's own dense index.
type hashTable struct {
	slots []hashSlot
	shift uint8 // 64 - log2(len(slots))
}

// hashSlot is one entry. It carries the value of the table's first CTR
// feature in what would be padding, so the commonest lookup touches one
// cache line instead of two.
type hashSlot struct {
	key   uint64
	idx   uint32
	first float32
}

// newHashTable builds the table for index (projection hash → counter index);
// first holds the first CTR feature's value per counter index.
func newHashTable(index map[uint64]uint32, first []float32) hashTable {
	n := 2
	for n < 2*len(index) {
		n *= 2
	}
	t := hashTable{slots: make([]hashSlot, n), shift: uint8(64 - bits.TrailingZeros(uint(n)))}
	for i := range t.slots {
		t.slots[i].key = emptyHashKey
	}
	mask := uint64(n - 1)
	for key, idx := range index {
		if key == emptyHashKey {
			continue // CatBoost's JSON junk entry (pitfall 7): never matches
		}
		i := t.home(key)
		for t.slots[i].key != emptyHashKey {
			i = (i + 1) & mask
		}
		t.slots[i] = hashSlot{key: key, idx: idx, first: first[idx]}
	}
	return t
}

// home is the first slot probed for key: Fibonacci hashing on the high bits,
// which depend on every bit of the key.
func (t *hashTable) home(key uint64) uint64 {
	return (key * 0x9e3779b97f4a7c15) >> t.shift
}

// lookup returns the slot of key, or nil when key is absent.
func (t *hashTable) lookup(key uint64) *hashSlot {
	mask := uint64(len(t.slots) - 1)
	i := t.home(key) & mask
	for {
		s := &t.slots[i]
		if s.key == key && key != emptyHashKey {
			return s
		}
		if s.key == emptyHashKey {
			return nil
		}
		i = (i + 1) & mask
	}
}
