package train

import (
	"math/rand/v2"
	"slices"

	"github.com/go-faster/city"
)

// This file holds categorical features: CatBoost's category hash, the
// projection hash a CTR table is keyed by (spec §3.1, §3.4), the CTR formula
// in float32 (§3.5), and the out-of-fold target statistics training uses.

// magicMult is CatBoost's CalcHash multiplier (spec §3.4).
const magicMult = 0x4906ba494954cb65

// catHash is CatBoost's CalcCatFeatureHash: the low 32 bits of CityHash64
// v1.0 of the string's bytes.
func catHash(s string) uint32 { return uint32(city.CH64([]byte(s))) }

// projectionHash is the CTR table key of a projection holding one
// categorical feature: CalcHash(0, the hash sign-extended to 64 bits).
func projectionHash(h uint32) uint64 {
	return magicMult * (0 + magicMult*uint64(int64(int32(h))))
}

// ctrParams are a CTR feature's prior, shift and scale.
type ctrParams struct {
	PriorNum, PriorDenom, Shift, Scale float32
}

// value is the Borders CTR of a category seen total times, good of them
// with label 1, every operation in float32 as the evaluator does it.
func (c ctrParams) value(good, total int32) float32 {
	return ((float32(good)+c.PriorNum)/(float32(total)+c.PriorDenom) + c.Shift) * c.Scale
}

// catCodes is a categorical column encoded by category hash: categories
// whose hashes collide are one category, as they are to the model.
type catCodes struct {
	Hashes  []uint32 // distinct hashes, ascending
	Strings []string // for each hash, the first string seen with it
	Codes   []int32  // per row, an index into Hashes
}

// encodeCats hashes a categorical column.
func encodeCats(col []string) catCodes {
	byString := make(map[string]uint32)
	firstString := make(map[uint32]string)
	rowHash := make([]uint32, len(col))
	for r, s := range col {
		h, ok := byString[s]
		if !ok {
			h = catHash(s)
			byString[s] = h
			if _, seen := firstString[h]; !seen {
				firstString[h] = s
			}
		}
		rowHash[r] = h
	}
	var c catCodes
	for h := range firstString {
		c.Hashes = append(c.Hashes, h)
	}
	slices.Sort(c.Hashes)
	code := make(map[uint32]int32, len(c.Hashes))
	for i, h := range c.Hashes {
		code[h] = int32(i)
		c.Strings = append(c.Strings, firstString[h])
	}
	c.Codes = make([]int32, len(col))
	for r, h := range rowHash {
		c.Codes[r] = code[h]
	}
	return c
}

// assignFolds splits n rows into k folds of near-equal size at random
// (seeded).
func assignFolds(n, k int, seed uint64) []uint8 {
	rng := rand.New(rand.NewPCG(seed, 0x666f6c6473)) // "folds"
	folds := make([]uint8, n)
	for i, r := range rng.Perm(n) {
		folds[r] = uint8(i % k)
	}
	return folds
}

// ctrCounts returns, per category code, how many rows have it (total) and
// how many of those have label 1 (good).
func ctrCounts(codes []int32, ncat int, labels []float64) (good, total []int32) {
	good, total = make([]int32, ncat), make([]int32, ncat)
	for r, c := range codes {
		total[c]++
		if labels[r] > 0.5 {
			good[c]++
		}
	}
	return good, total
}

// outOfFoldCtr returns every row's CTR computed from the rows of the other
// folds only, so a row's own label never leaks into its feature.
func outOfFoldCtr(codes []int32, ncat int, labels []float64, folds []uint8, k int, p ctrParams) []float32 {
	good := make([][]int32, k)
	total := make([][]int32, k)
	for f := range k {
		good[f], total[f] = make([]int32, ncat), make([]int32, ncat)
	}
	allGood, allTotal := make([]int32, ncat), make([]int32, ncat)
	for r, c := range codes {
		f := folds[r]
		total[f][c]++
		allTotal[c]++
		if labels[r] > 0.5 {
			good[f][c]++
			allGood[c]++
		}
	}
	out := make([]float32, len(codes))
	for r, c := range codes {
		f := folds[r]
		out[r] = p.value(allGood[c]-good[f][c], allTotal[c]-total[f][c])
	}
	return out
}
