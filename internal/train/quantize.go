package train

import (
	"math"
	"slices"
	"sort"
)

// quantileBorders returns at most maxBorders float32 borders splitting the
// values (NaN ignored) into bins of roughly equal counts. Every border lies
// between two distinct values v < w with v <= border < w, so a split
// "x > border" separates them, whatever the float32 rounding.
func quantileBorders(values []float32, maxBorders int) []float32 {
	sorted := make([]float32, 0, len(values))
	for _, v := range values {
		if v == v {
			sorted = append(sorted, v)
		}
	}
	if len(sorted) == 0 {
		return nil
	}
	slices.Sort(sorted)
	distinct := slices.Compact(slices.Clone(sorted))
	if len(distinct) <= maxBorders+1 {
		out := make([]float32, 0, len(distinct)-1)
		for i := 0; i+1 < len(distinct); i++ {
			out = append(out, between(distinct[i], distinct[i+1]))
		}
		return out
	}
	n := len(sorted)
	out := make([]float32, 0, maxBorders)
	for k := 1; k <= maxBorders; k++ {
		v := sorted[k*n/(maxBorders+1)]
		// The next distinct value above v.
		j := sort.Search(len(distinct), func(i int) bool { return distinct[i] > v })
		if j == len(distinct) {
			break
		}
		b := between(v, distinct[j])
		if len(out) == 0 || b > out[len(out)-1] {
			out = append(out, b)
		}
	}
	return out
}

// between returns a float32 border b with v <= b < w (v < w).
func between(v, w float32) float32 {
	b := float32((float64(v) + float64(w)) / 2)
	if b >= w || b < v {
		return v
	}
	return b
}

// nanBorder returns a border below every non-NaN value, so that with NaN
// treated as "below all borders" (AsFalse) missing values get a bin of their
// own.
func nanBorder(values []float32) float32 {
	lo := float32(math.Inf(1))
	for _, v := range values {
		if v < lo {
			lo = v
		}
	}
	b := float32(float64(lo) - 1)
	if !(b < lo) {
		b = math.Nextafter32(lo, float32(math.Inf(-1)))
	}
	return b
}

// bin returns the number of borders below v (v > border, float32, the
// evaluator's rule); NaN is below every border.
func bin(v float32, borders []float32) uint8 {
	if v != v {
		return 0
	}
	// borders are sorted: count those b with v > b.
	return uint8(sort.Search(len(borders), func(i int) bool { return !(v > borders[i]) }))
}
