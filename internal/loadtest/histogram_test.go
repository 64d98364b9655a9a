package loadtest

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsRoundTrip(t *testing.T) {
	// Every value lies inside the bucket it is counted in: its midpoint is
	// within half a bucket width, at most 1/256 of the value.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		v := uint64(math.Exp(rng.Float64() * math.Log(1<<39)))
		mid := bucketMid(bucketOf(v))
		if diff := math.Abs(mid - float64(v)); diff > float64(v)/256+0.5 {
			t.Fatalf("value %d: bucket %d midpoint %g, off by %g (> 1/256)", v, bucketOf(v), mid, diff)
		}
	}
	for v := range uint64(subBuckets) {
		if bucketMid(bucketOf(v)) != float64(v) {
			t.Errorf("small value %d not exact: %g", v, bucketMid(bucketOf(v)))
		}
	}
	if got := bucketOf(1 << 50); got != numBuckets-1 {
		t.Errorf("huge value in bucket %d, want the last (%d)", got, numBuckets-1)
	}
	// Buckets are monotonic: a larger value never lands in a lower bucket.
	prev := 0
	for v := uint64(0); v < 1<<20; v += 7 {
		b := bucketOf(v)
		if b < prev {
			t.Fatalf("bucketOf(%d) = %d < %d", v, b, prev)
		}
		prev = b
	}
}

func TestQuantilesAgainstExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h, a, b Histogram
	var exact []time.Duration
	for i := range 50000 {
		// Log-normal latencies around 2 ms with a long tail.
		d := time.Duration(2e6 * math.Exp(rng.NormFloat64()))
		h.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		exact = append(exact, d)
	}
	a.Merge(&b)
	slices.Sort(exact)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		want := exact[int(math.Ceil(q*float64(len(exact))))-1]
		for name, hh := range map[string]*Histogram{"direct": &h, "merged": &a} {
			got := hh.Quantile(q)
			if rel := math.Abs(float64(got-want)) / float64(want); rel > 1.0/256 {
				t.Errorf("%s q%.3f = %s, exact %s (relative error %.4f > 1/256)", name, q, got, want, rel)
			}
		}
	}
	if h.Max() != exact[len(exact)-1] || h.Min() != exact[0] || h.Count() != uint64(len(exact)) {
		t.Errorf("max %s min %s count %d, want %s %s %d", h.Max(), h.Min(), h.Count(), exact[len(exact)-1], exact[0], len(exact))
	}
	if a.Count() != h.Count() || a.Max() != h.Max() || a.Min() != h.Min() {
		t.Errorf("merged halves: count %d max %s min %s, want %d %s %s", a.Count(), a.Max(), a.Min(), h.Count(), h.Max(), h.Min())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram: want zero quantile and mean")
	}
	h.Reset()
	if h.Count() != 0 || h.Max() != 0 {
		t.Error("Reset left values behind")
	}
}

func TestRankNearest(t *testing.T) {
	// The seed's script: median of 1..10 (nearest rank) is 5, p95 is 10.
	var s []time.Duration
	for i := 1; i <= 10; i++ {
		s = append(s, time.Duration(i))
	}
	if rank(s, 0.5) != 5 || rank(s, 0.95) != 10 || rank(s, 0.1) != 1 {
		t.Errorf("rank: median %d p95 %d p10 %d, want 5 10 1", rank(s, 0.5), rank(s, 0.95), rank(s, 0.1))
	}
}
