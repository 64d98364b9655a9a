package loadtest

import (
	"math"
	"math/bits"
	"time"
)

// Histogram geometry: values (nanoseconds) below 2^subBits are counted
// exactly; above, every power of two is split into 2^subBits buckets of
// equal width, so a bucket is at most 1/128 of the values it holds wide.
// Reporting a bucket's midpoint keeps every quantile within 0.4% (1/256)
// of a recorded value. Values from 2^maxExp ns (about 18 minutes) up are
// counted in the last bucket.
const (
	subBits    = 7
	subBuckets = 1 << subBits
	maxExp     = 40
	numBuckets = (maxExp - subBits + 1) * subBuckets
)

// Histogram counts durations in logarithmic buckets: fixed memory (about
// 34 KiB) whatever the number of values, quantiles within 0.4% relative
// error (HDR-histogram style, 2 significant digits). The zero value is
// ready to use. A Histogram is not safe for concurrent use.
type Histogram struct {
	counts [numBuckets]uint64
	n      uint64
	sum    float64
	min    time.Duration
	max    time.Duration
}

// bucketOf returns the bucket index of v ≥ 0 nanoseconds.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	exp := bits.Len64(v) - 1
	if exp >= maxExp {
		return numBuckets - 1
	}
	shift := exp - subBits
	return (shift+1)*subBuckets + int((v>>shift)&(subBuckets-1))
}

// bucketMid returns the midpoint of bucket i, in nanoseconds.
func bucketMid(i int) float64 {
	if i < subBuckets {
		return float64(i)
	}
	shift := i/subBuckets - 1
	sub := uint64(i % subBuckets)
	lo := (subBuckets + sub) << shift
	return float64(lo) + float64(uint64(1)<<shift)/2
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded value, exactly (0 when empty).
func (h *Histogram) Max() time.Duration { return h.max }

// Min returns the smallest recorded value, exactly (0 when empty).
func (h *Histogram) Min() time.Duration { return h.min }

// Mean returns the mean of the recorded values (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) with the nearest-rank rule:
// the smallest value with at least ⌈q·n⌉ values at or below it, reported
// as its bucket's midpoint clamped to [Min, Max]. It returns 0 when h is
// empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := time.Duration(bucketMid(i))
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
