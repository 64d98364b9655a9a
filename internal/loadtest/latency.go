package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// LatencyResult is the outcome of a sequential run: the seed's
// measure_response.py numbers, computed exactly from every sample.
type LatencyResult struct {
	// Requests is how many requests were sent; Failures how many of them
	// failed (their latency is not in the percentiles).
	Requests, Failures int
	// Median, P95, P99 and Max are nearest-rank percentiles of the
	// successful requests' latencies.
	Median, P95, P99, Max time.Duration
	// Mean is their arithmetic mean.
	Mean time.Duration
	// Elapsed is the wall time of the whole run.
	Elapsed time.Duration
	// FirstError is the first failure's error, nil when none failed.
	FirstError error
}

// RunLatency sends n requests one after the other, cycling through bodies,
// each bounded by timeout, and measures each request's latency. It stops
// early when ctx ends, returning what it measured with ctx's error.
func RunLatency(ctx context.Context, t Target, bodies [][]byte, n int, timeout time.Duration) (LatencyResult, error) {
	if n < 1 || len(bodies) == 0 || timeout <= 0 {
		return LatencyResult{}, fmt.Errorf("%w: latency run needs n ≥ 1 (got %d), bodies and a positive timeout", ErrConfig, n)
	}
	samples := make([]time.Duration, 0, n)
	var res LatencyResult
	start := time.Now()
	var runErr error
	for i := range n {
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		t0 := time.Now()
		err := t.Do(rctx, bodies[i%len(bodies)])
		d := time.Since(t0)
		cancel()
		res.Requests++
		if err != nil {
			res.Failures++
			if res.FirstError == nil {
				res.FirstError = err
			}
			continue
		}
		samples = append(samples, d)
	}
	res.Elapsed = time.Since(start)
	if len(samples) == 0 {
		return res, errors.Join(fmt.Errorf("%w: %d requests, all failed", ErrNoRequests, res.Requests), res.FirstError, runErr)
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, d := range samples {
		sum += d
	}
	res.Median = rank(samples, 0.50)
	res.P95 = rank(samples, 0.95)
	res.P99 = rank(samples, 0.99)
	res.Max = samples[len(samples)-1]
	res.Mean = sum / time.Duration(len(samples))
	return res, runErr
}

// rank returns the nearest-rank q-quantile of sorted samples.
func rank(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
