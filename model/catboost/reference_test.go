package catboost

import (
	"math"
)

// This file is the reference evaluator: a literal, row-at-a-time reading of
// spec §2–§4 and §7 over a Definition, written for clarity, not speed, and
// sharing no code with the fast evaluator (not even the CTR formulas of
// ctr.go). The parity suite checks it against real CatBoost outputs; the
// differential tests check the fast evaluator against it, bit for bit.

// referenceRaw returns the raw values (ApproxDimension of them) of one row:
// floats by float Index (NaN = missing), cats by categorical Index.
func referenceRaw(d *Definition, floats []float64, cats []string) []float64 {
	dim := d.ApproxDimension
	hashes := make([]uint32, len(cats))
	for i, s := range cats {
		hashes[i] = CatHash(s)
	}
	split := func(s Split) bool { return referenceSplit(d, s, floats, hashes) }

	sum := make([]float64, dim)
	for _, t := range d.Oblivious {
		idx := 0
		for depth, s := range t.Splits {
			if split(d.Splits[s]) {
				idx |= 1 << depth // split 0 is the least significant bit (§1.2)
			}
		}
		for k := range dim {
			sum[k] += t.LeafValues[idx*dim+k]
		}
	}
	for _, t := range d.Trees {
		n := 0
		for {
			node := t.Nodes[n]
			diff := node.Left
			if node.Left != 0 || node.Right != 0 {
				if split(d.Splits[node.Split]) {
					diff = node.Right // right = condition true (§1.3)
				}
			}
			if diff == 0 {
				break
			}
			n += int(diff)
		}
		for k := range dim {
			sum[k] += t.LeafValues[int(t.Nodes[n].LeafOffset)+k]
		}
	}
	raw := make([]float64, dim)
	for k := range dim {
		raw[k] = float64(d.Scale*sum[k]) + d.Bias[k] // explicit conversion: no FMA (§4.1)
	}
	return raw
}

// referenceFloat is the float32 value CatBoost compares for float feature i:
// the input rounded to float32, NaN replaced per the feature's rule (§2).
func referenceFloat(d *Definition, i int, floats []float64) float32 {
	f := d.FloatFeatures[i]
	x := floats[i]
	if math.IsNaN(x) {
		if f.HasNans && f.NanTreatment == NanAsTrue {
			return float32(math.Inf(1))
		}
		return float32(math.Inf(-1)) // AsFalse, AsIs, or no NaNs in training: every split false
	}
	return float32(x)
}

func referenceSplit(d *Definition, s Split, floats []float64, hashes []uint32) bool {
	switch s.Kind {
	case SplitFloat:
		return referenceFloat(d, s.Feature, floats) > s.Border
	case SplitOneHot:
		return int32(hashes[s.Feature]) == s.Value
	default:
		return referenceCtr(d, s.Feature, floats, hashes) > s.Border
	}
}

// referenceCtr computes CTR feature c for a row (§3.4, §3.5).
func referenceCtr(d *Definition, c int, floats []float64, hashes []uint32) float32 {
	ctr := d.Ctrs[c]
	p := ctr.Base.Projection
	const magic = 0x4906ba494954cb65
	calcHash := func(a, b uint64) uint64 { return magic * (a + magic*b) }
	var h uint64
	for _, j := range p.CatFeatures {
		h = calcHash(h, uint64(int64(int32(hashes[j])))) // sign extension
	}
	for _, fs := range p.FloatSplits {
		var bit uint64
		if referenceFloat(d, fs.FloatIndex, floats) > fs.Border {
			bit = 1
		}
		h = calcHash(h, bit)
	}
	for _, os := range p.OneHotSplits {
		var bit uint64
		if int32(hashes[os.CatIndex]) == os.Value {
			bit = 1
		}
		h = calcHash(h, bit)
	}

	table := findTable(d, ctr.Base)
	idx, found := table.Index[h]
	if h == ^uint64(0) {
		found = false // the empty-bucket marker is never a key (§6 pitfall 7)
	}
	calc := func(a, b float32) float32 {
		v := float32(a+ctr.PriorNum) / float32(b+ctr.PriorDenom)
		v = float32(v + ctr.Shift)
		return float32(v * ctr.Scale)
	}
	switch ctr.Base.Type {
	case CtrBinarizedTargetMeanValue, CtrFloatTargetMeanValue:
		if !found {
			return calc(0, 0)
		}
		return calc(table.Means[idx].Sum, float32(table.Means[idx].Count))
	case CtrCounter, CtrFeatureFreq:
		if !found {
			return calc(0, float32(table.CounterDenominator))
		}
		return calc(float32(table.Counters[idx]), float32(table.CounterDenominator))
	case CtrBuckets:
		if !found {
			return calc(0, 0)
		}
		k := table.TargetClassesCount
		total := 0
		for i := range k {
			total += int(table.Counters[int(idx)*k+i])
		}
		return calc(float32(table.Counters[int(idx)*k+ctr.TargetBorderIdx]), float32(total))
	default: // Borders
		if !found {
			return calc(0, 0)
		}
		k := table.TargetClassesCount
		c := table.Counters[int(idx)*k : int(idx)*k+k]
		if k == 2 {
			return calc(float32(c[1]), float32(int(c[0])+int(c[1])))
		}
		total, good := 0, 0
		for i := range k {
			if i <= ctr.TargetBorderIdx {
				total += int(c[i])
			} else {
				good += int(c[i])
			}
		}
		return calc(float32(good), float32(total+good))
	}
}
