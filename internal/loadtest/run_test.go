package loadtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/service"
)

func TestLatencyEveryTarget(t *testing.T) {
	s := startScorer(t, nil)
	bodies := Generated(7, 50)
	for _, tg := range s.targets(t) {
		t.Run(tg.Name(), func(t *testing.T) {
			res, err := RunLatency(context.Background(), tg, bodies, 120, 10*time.Second)
			if err != nil {
				t.Fatalf("RunLatency: %v", err)
			}
			if res.Requests != 120 || res.Failures != 0 || res.FirstError != nil {
				t.Fatalf("%d requests, %d failures (%v), want 120 and 0", res.Requests, res.Failures, res.FirstError)
			}
			if !(0 < res.Median && res.Median <= res.P95 && res.P95 <= res.P99 && res.P99 <= res.Max) {
				t.Errorf("percentiles out of order: median %s p95 %s p99 %s max %s", res.Median, res.P95, res.P99, res.Max)
			}
			if res.Elapsed < time.Duration(res.Requests)*res.Median/2 {
				// Sequential: the run lasts at least the sum of its latencies,
				// so at least half the requests times the median.
				t.Errorf("elapsed %s shorter than half of 120 × median %s: requests overlapped", res.Elapsed, res.Median)
			}
		})
	}
}

func TestFailuresAreCounted(t *testing.T) {
	s := startScorer(t, nil)
	bad := [][]byte{[]byte(`{"Term":"eighty"}`)}
	for _, tg := range s.targets(t) {
		t.Run(tg.Name(), func(t *testing.T) {
			err := tg.Do(context.Background(), bad[0])
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("bad application: %v, want ErrFailed", err)
			}
			res, err := RunLatency(context.Background(), tg, bad, 5, 10*time.Second)
			if !errors.Is(err, ErrNoRequests) || res.Failures != 5 || !errors.Is(res.FirstError, ErrFailed) {
				t.Errorf("all bad: err %v, %d failures, first %v; want ErrNoRequests, 5, ErrFailed", err, res.Failures, res.FirstError)
			}
		})
	}
	// No answer at all is an error too, but not ErrFailed.
	h := NewHTTP("http://127.0.0.1:1/predict", 1)
	if err := h.Do(context.Background(), SeedExamples()[0]); err == nil || errors.Is(err, ErrFailed) {
		t.Errorf("refused connection: %v, want a transport error", err)
	}
}

func TestLoadRampsAndCounts(t *testing.T) {
	s := startScorer(t, nil)
	for _, tg := range s.targets(t) {
		t.Run(tg.Name(), func(t *testing.T) {
			cfg := DefaultLoadConfig()
			cfg.Users, cfg.SpawnRate, cfg.RatePerUser = 4, 40, 50
			cfg.Duration, cfg.Interval = 1500*time.Millisecond, 250*time.Millisecond
			var reported []Row
			res, err := RunLoad(context.Background(), tg, SeedExamples(), cfg, func(r Row) { reported = append(reported, r) })
			if err != nil {
				t.Fatalf("RunLoad: %v", err)
			}
			if len(reported) != len(res.Rows) || len(res.Rows) < 2 {
				t.Fatalf("%d rows reported, %d in the result; want the same, at least 2", len(reported), len(res.Rows))
			}
			var sum, fails uint64
			for i, r := range res.Rows {
				sum += r.Requests
				fails += r.Failures
				if i > 0 && r.Elapsed <= res.Rows[i-1].Elapsed {
					t.Errorf("row %d elapsed %s not after %s", i, r.Elapsed, res.Rows[i-1].Elapsed)
				}
				if r.Requests > r.Failures && !(r.P50 <= r.P95 && r.P95 <= r.P99 && r.P99 <= r.Max) {
					t.Errorf("row %d percentiles out of order: %+v", i, r)
				}
			}
			if sum != res.Total.Requests || fails != 0 || res.Total.Failures != 0 {
				t.Errorf("rows sum to %d requests (%d failures), total says %d (%d)", sum, fails, res.Total.Requests, res.Total.Failures)
			}
			if res.MaxUsers != 4 || res.Steady.Requests == 0 || res.Steady.Requests > res.Total.Requests {
				t.Errorf("max users %d, steady %d of %d requests; want 4 users and a steady share", res.MaxUsers, res.Steady.Requests, res.Total.Requests)
			}
			if res.Break != nil {
				t.Errorf("a run without --until-break reported a break: %+v", res.Break)
			}
		})
	}
}

func TestLoadUntilBreak(t *testing.T) {
	// A p95 bound of one nanosecond is passed by every interval with a
	// request: the ramp must stop at the first BreakSeconds judged
	// intervals, long before Duration.
	s := startScorer(t, nil)
	cfg := DefaultLoadConfig()
	cfg.Users, cfg.SpawnRate, cfg.RatePerUser, cfg.Hold, cfg.MaxUsers = 2, 20, 0, 0, 50
	cfg.Duration, cfg.Interval = time.Minute, 100*time.Millisecond
	cfg.UntilBreak, cfg.BreakP95, cfg.BreakSeconds = true, time.Nanosecond, 2
	res, err := RunLoad(context.Background(), s.targets(t)[0], Generated(1, 10), cfg, nil)
	if err != nil {
		t.Fatalf("RunLoad: %v", err)
	}
	if res.Break == nil {
		t.Fatalf("no break with a 1ns p95 bound after %d rows", len(res.Rows))
	}
	if res.Break.At.Users < 1 || res.Break.At.P95 <= cfg.BreakP95 || res.Break.Reason == "" {
		t.Errorf("break %+v: want users ≥ 1, p95 above the bound and a reason", res.Break)
	}
	if last := res.Rows[len(res.Rows)-1].Elapsed; last > 30*time.Second {
		t.Errorf("run went on for %s after breaking", last)
	}
}

func TestLoadRampsPastUsersAfterHold(t *testing.T) {
	// No break (a generous bound): the run holds 3 users, then ramps at
	// its own rate to MaxUsers. The steady summary covers the hold only.
	s := startScorer(t, nil)
	cfg := DefaultLoadConfig()
	cfg.Users, cfg.SpawnRate, cfg.RatePerUser = 3, 100, 20
	cfg.UntilBreak, cfg.Hold, cfg.RampRate, cfg.MaxUsers, cfg.BreakP95 = true, 300*time.Millisecond, 200, 12, time.Minute
	cfg.Duration, cfg.Interval = 1500*time.Millisecond, 250*time.Millisecond
	res, err := RunLoad(context.Background(), s.targets(t)[0], Generated(2, 10), cfg, nil)
	if err != nil {
		t.Fatalf("RunLoad: %v", err)
	}
	if res.Break != nil {
		t.Errorf("break with a one-minute p95 bound: %+v", res.Break)
	}
	if res.MaxUsers != 12 {
		t.Errorf("ramped to %d users, want MaxUsers 12", res.MaxUsers)
	}
	if res.Steady.Requests == 0 || res.Steady.Requests >= res.Total.Requests {
		t.Errorf("steady %d of %d requests: want the hold's share only", res.Steady.Requests, res.Total.Requests)
	}
}

func TestBreakerNeedsConsecutiveBadIntervals(t *testing.T) {
	cfg := LoadConfig{BreakP95: 100 * time.Millisecond, BreakSeconds: 3, Timeout: time.Second}
	row := func(sec, users int, p95 time.Duration, fails uint64) Row {
		return Row{Elapsed: time.Duration(sec) * time.Second, Users: users, Requests: 10, Failures: fails, P95: p95}
	}
	b := breaker{cfg: cfg}
	rows := []Row{
		row(1, 10, 10*time.Millisecond, 0),
		row(2, 20, 200*time.Millisecond, 0), // bad, but alone
		row(3, 30, 10*time.Millisecond, 0),
		row(4, 40, 10*time.Millisecond, 0),
		row(5, 50, 10*time.Millisecond, 2), // bad: failures
		row(6, 60, 300*time.Millisecond, 0),
		row(7, 70, 300*time.Millisecond, 0),
	}
	var got *Break
	for i, r := range rows {
		if brk := b.observe(r); brk != nil {
			if i != 6 {
				t.Fatalf("break at row %d, want row 6", i)
			}
			got = brk
		}
	}
	if got == nil || got.At.Users != 50 || got.LastGood.Users != 40 || got.Reason != "2 failures" {
		t.Fatalf("break %+v, want at 50 users (failures) after 40 good", got)
	}
}

func TestAsyncRun(t *testing.T) {
	s := startScorer(t, func(c *service.Config) { c.Batch.MaxWait = time.Millisecond })
	cfg := DefaultAsyncConfig()
	cfg.N, cfg.InFlight, cfg.Timeout, cfg.Prefix = 300, 64, time.Minute, NewRunID("test")
	res, err := RunAsync(context.Background(), s.nc, Generated(3, 100), cfg)
	if err != nil {
		t.Fatalf("RunAsync: %v", err)
	}
	if res.Published != 300 || res.Results != 300 || res.Failures != 0 {
		t.Errorf("published %d, results %d, failures %d; want 300, 300, 0", res.Published, res.Results, res.Failures)
	}
	if !(0 < res.P50 && res.P50 <= res.P95 && res.P95 <= res.P99 && res.P99 <= res.Max) || res.Throughput <= 0 {
		t.Errorf("latencies %s %s %s %s, throughput %g", res.P50, res.P95, res.P99, res.Max, res.Throughput)
	}
	// Bad applications come back as error results: counted, not lost.
	cfg.N, cfg.Prefix = 20, NewRunID("bad")
	res, err = RunAsync(context.Background(), s.nc, [][]byte{[]byte(`{"Term":1}`)}, cfg)
	if err != nil || res.Results != 20 || res.Failures != 20 {
		t.Errorf("bad run: %v, %d results, %d failures; want 20 error results", err, res.Results, res.Failures)
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []func(*LoadConfig){
		func(c *LoadConfig) { c.Users = 0 },
		func(c *LoadConfig) { c.SpawnRate = 0 },
		func(c *LoadConfig) { c.Duration = 0 },
		func(c *LoadConfig) { c.RatePerUser = -1 },
		func(c *LoadConfig) { c.UntilBreak, c.MaxUsers = true, 1 },
		func(c *LoadConfig) { c.UntilBreak, c.BreakP95 = true, 0 },
	}
	for i, mutate := range bad {
		c := DefaultLoadConfig()
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("case %d: %v, want ErrConfig", i, err)
		}
	}
	if err := DefaultLoadConfig().Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	if err := (AsyncConfig{}).Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("zero async config: %v, want ErrConfig", err)
	}
}
