package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/proccpu"
)

// LoadConfig describes a Locust-style run.
type LoadConfig struct {
	// Users is the number of simulated users to reach; with UntilBreak,
	// where the ramp pauses for Hold before going on.
	Users int
	// SpawnRate is how many users start per second.
	SpawnRate float64
	// Duration bounds the whole run, ramp included.
	Duration time.Duration
	// RatePerUser is each user's request rate (Locust's
	// constant_throughput: a user waits 1/RatePerUser minus the request's
	// latency between requests); 0 sends as fast as possible.
	RatePerUser float64
	// Timeout bounds one request; a request past it is a failure.
	Timeout time.Duration
	// Interval is the statistics period (one row each); default 1s.
	Interval time.Duration

	// UntilBreak ramps past Users (after Hold) at RampRate up to MaxUsers
	// until the scorer breaks: BreakSeconds consecutive intervals whose
	// p95 exceeds BreakP95 or that saw a failure (or completed nothing).
	UntilBreak bool
	// Hold is how long the run stays at Users before ramping on.
	Hold time.Duration
	// RampRate is how many users start per second after Hold; 0 means
	// SpawnRate.
	RampRate float64
	// MaxUsers caps the ramp of UntilBreak.
	MaxUsers int
	// BreakP95 is the p95 latency bound of UntilBreak.
	BreakP95 time.Duration
	// BreakSeconds is how many consecutive bad intervals make a break.
	BreakSeconds int
}

// DefaultLoadConfig returns the seed's Locust scenario: 100 users spawned
// at 5/s, one request per second each, for 60 s; breaking means a p95
// above 1 s or failures for 3 intervals in a row.
func DefaultLoadConfig() LoadConfig {
	return LoadConfig{
		Users: 100, SpawnRate: 5, Duration: 60 * time.Second, RatePerUser: 1,
		Timeout: 10 * time.Second, Interval: time.Second,
		Hold: 20 * time.Second, MaxUsers: 100000, BreakP95: time.Second, BreakSeconds: 3,
	}
}

// Validate checks the configuration; errors wrap ErrConfig.
func (c LoadConfig) Validate() error {
	var errs []error
	if c.Users < 1 {
		errs = append(errs, fmt.Errorf("users must be at least 1, got %d", c.Users))
	}
	if c.SpawnRate <= 0 {
		errs = append(errs, fmt.Errorf("spawn rate must be positive, got %g", c.SpawnRate))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration must be positive, got %s", c.Duration))
	}
	if c.RatePerUser < 0 {
		errs = append(errs, fmt.Errorf("rate per user must be 0 (as fast as possible) or positive, got %g", c.RatePerUser))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout must be positive, got %s", c.Timeout))
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval must be positive, got %s", c.Interval))
	}
	if c.UntilBreak {
		if c.MaxUsers < c.Users {
			errs = append(errs, fmt.Errorf("max users (%d) must be at least users (%d)", c.MaxUsers, c.Users))
		}
		if c.RampRate < 0 {
			errs = append(errs, fmt.Errorf("ramp rate must be 0 (the spawn rate) or positive, got %g", c.RampRate))
		}
		if c.BreakP95 <= 0 || c.BreakSeconds < 1 || c.Hold < 0 {
			errs = append(errs, fmt.Errorf("until-break needs a positive p95 bound (%s), at least 1 break second (%d) and a hold ≥ 0 (%s)", c.BreakP95, c.BreakSeconds, c.Hold))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}

// Row is the statistics of one interval. Requests count by completion
// time, as Locust does.
type Row struct {
	// Elapsed is the time since the run started, at the interval's end.
	Elapsed time.Duration
	// Users is the number of running users at the interval's end.
	Users int
	// Requests and Failures completed during the interval.
	Requests, Failures uint64
	// RPS and FailuresPerSec are per second of the interval.
	RPS, FailuresPerSec float64
	// P50, P95, P99 and Max are latencies of the interval's successful
	// requests (Histogram precision; Max exact).
	P50, P95, P99, Max time.Duration
	// CPU is the load generator's own CPU use over the interval, in
	// percent of one core (it can exceed 100 on several cores).
	CPU float64
}

// Summary is the latency of a set of requests.
type Summary struct {
	// Requests and Failures counted in the set.
	Requests, Failures uint64
	// RPS is Requests per second of the set's wall time.
	RPS float64
	// P50, P95, P99, Max of the successful requests.
	P50, P95, P99, Max time.Duration
}

// Break is where a ramp broke.
type Break struct {
	// At is the first bad interval of the breaking run of intervals.
	At Row
	// LastGood is the interval before it (zero when the first one broke).
	LastGood Row
	// Reason says which bound was passed.
	Reason string
}

// LoadResult is a whole run.
type LoadResult struct {
	// Rows holds one row per interval, in order.
	Rows []Row
	// Total summarises every request of the run.
	Total Summary
	// Steady summarises the requests completed while exactly Users users
	// ran after the ramp (the seed's "at 100 users" numbers).
	Steady Summary
	// MaxRPS is the highest interval rps (a last interval shorter than
	// half of Interval does not count).
	MaxRPS float64
	// MaxUsers is the most users that ran.
	MaxUsers int
	// Break is set when UntilBreak found the breaking point.
	Break *Break
	// MaxCPU is the highest interval CPU of the generator up to the break
	// (or the end).
	MaxCPU float64
	// FirstError is the first failure's error.
	FirstError error
}

// GeneratorBound tells whether the load generator reached limit percent
// of a core before the break (or the end): then its numbers are a bound
// of the generator, not of the scorer.
func (r *LoadResult) GeneratorBound(limit float64) bool { return r.MaxCPU >= limit }

// phases of a run.
const (
	phaseRamp   int32 = iota // spawning up to Users
	phaseSteady              // Users running, ramp done
	phaseBeyond              // UntilBreak: spawning past Users
)

// collector gathers the users' measurements; users record, the reporter
// snapshots once per interval.
type collector struct {
	mu         sync.Mutex
	cur        Histogram
	curFail    uint64
	total      Histogram
	totalFail  uint64
	steady     Histogram
	steadyFail uint64
	firstErr   error
	// steadyAt and beyondAt are when the phases steady and beyond began.
	steadyAt, beyondAt time.Time
	phase              atomic.Int32
	users              atomic.Int64
}

func (c *collector) record(d time.Duration, err error) {
	steady := c.phase.Load() == phaseSteady
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.curFail++
		c.totalFail++
		if steady {
			c.steadyFail++
		}
		if c.firstErr == nil {
			c.firstErr = err
		}
		return
	}
	c.cur.Record(d)
	c.total.Record(d)
	if steady {
		c.steady.Record(d)
	}
}

// RunLoad runs users against t as cfg says, cycling through bodies, and
// calls report with every interval's row as it ends (report may be nil).
// It returns when cfg.Duration has passed, the ramp broke (UntilBreak) or
// ctx ended; every user has stopped by then. Requests cut short by the
// end of the run are not counted.
func RunLoad(ctx context.Context, t Target, bodies [][]byte, cfg LoadConfig, report func(Row)) (*LoadResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(bodies) == 0 {
		return nil, fmt.Errorf("%w: no request bodies", ErrConfig)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	c := &collector{}
	var wg sync.WaitGroup
	start := time.Now()
	spawned := make(chan struct{})
	go func() {
		defer close(spawned)
		spawn(ctx, cfg, c, func(id int) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				user(ctx, t, bodies, id, cfg, c)
			}()
		})
	}()

	res := &LoadResult{}
	b := breaker{cfg: cfg}
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	last, lastCPU := start, proccpu.Used()
	snap := func(now time.Time) Row {
		cpu := proccpu.Used()
		c.mu.Lock()
		row := Row{
			Elapsed: now.Sub(start), Users: int(c.users.Load()),
			Requests: c.cur.Count() + c.curFail, Failures: c.curFail,
			P50: c.cur.Quantile(0.50), P95: c.cur.Quantile(0.95), P99: c.cur.Quantile(0.99), Max: c.cur.Max(),
		}
		c.cur.Reset()
		c.curFail = 0
		c.mu.Unlock()
		if secs := now.Sub(last).Seconds(); secs > 0 {
			row.RPS = float64(row.Requests) / secs
			row.FailuresPerSec = float64(row.Failures) / secs
			row.CPU = 100 * float64(cpu-lastCPU) / float64(now.Sub(last))
		}
		last, lastCPU = now, cpu
		return row
	}
	// emit keeps a row; a short last row (under half an interval) does
	// not count for MaxRPS: a few requests over a few milliseconds are
	// no rate.
	emit := func(row Row, short bool) {
		res.Rows = append(res.Rows, row)
		if !short {
			res.MaxRPS = max(res.MaxRPS, row.RPS)
		}
		res.MaxUsers = max(res.MaxUsers, row.Users)
		if res.Break == nil {
			res.MaxCPU = max(res.MaxCPU, row.CPU)
		}
		if report != nil {
			report(row)
		}
	}
loop:
	for {
		select {
		case now := <-tick.C:
			row := snap(now)
			emit(row, false)
			if cfg.UntilBreak && res.Break == nil {
				if brk := b.observe(row); brk != nil {
					res.Break = brk
					cancel()
				}
			}
		case <-ctx.Done():
			break loop
		}
	}
	end := time.Now()
	<-spawned
	wg.Wait()
	lastTick := last
	if row := snap(end); row.Requests > 0 && row.Elapsed > 0 {
		emit(row, end.Sub(lastTick) < cfg.Interval/2)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	steadyEnd := end
	if !c.beyondAt.IsZero() {
		steadyEnd = c.beyondAt
	}
	res.Total = summarize(&c.total, c.totalFail, end.Sub(start))
	if !c.steadyAt.IsZero() && steadyEnd.After(c.steadyAt) {
		res.Steady = summarize(&c.steady, c.steadyFail, steadyEnd.Sub(c.steadyAt))
	}
	res.FirstError = c.firstErr
	if res.Total.Requests == 0 {
		return res, fmt.Errorf("%w in %s", ErrNoRequests, end.Sub(start).Round(time.Millisecond))
	}
	return res, nil
}

func summarize(h *Histogram, failures uint64, wall time.Duration) Summary {
	s := Summary{
		Requests: h.Count() + failures, Failures: failures,
		P50: h.Quantile(0.50), P95: h.Quantile(0.95), P99: h.Quantile(0.99), Max: h.Max(),
	}
	if wall > 0 {
		s.RPS = float64(s.Requests) / wall.Seconds()
	}
	return s
}
