package loadtest

import (
	"context"
	"fmt"
	"time"
)

// spawn starts users through start (with ids 0, 1, …) at cfg.SpawnRate
// until cfg.Users run, marks the steady phase, and with UntilBreak holds
// for cfg.Hold, then goes on spawning at cfg.RampRate up to
// cfg.MaxUsers. It returns when ctx ends or there is nothing left to
// spawn.
func spawn(ctx context.Context, cfg LoadConfig, c *collector, start func(id int)) {
	every := period(cfg.SpawnRate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	next := 0
	startOne := func() {
		start(next)
		next++
		c.users.Store(int64(next))
	}
	// Like Locust, the first user starts at once.
	startOne()
	for next < cfg.Users {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			startOne()
		}
	}
	c.mu.Lock()
	c.steadyAt = time.Now()
	c.mu.Unlock()
	c.phase.Store(phaseSteady)
	if !cfg.UntilBreak {
		return
	}
	hold := time.NewTimer(cfg.Hold)
	defer hold.Stop()
	select {
	case <-ctx.Done():
		return
	case <-hold.C:
	}
	c.mu.Lock()
	c.beyondAt = time.Now()
	c.mu.Unlock()
	c.phase.Store(phaseBeyond)
	if cfg.RampRate > 0 {
		every = period(cfg.RampRate)
	}
	tick.Reset(every)
	for next < cfg.MaxUsers {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			startOne()
		}
	}
}

// period returns the interval between starts at rate per second.
func period(rate float64) time.Duration {
	return max(time.Duration(float64(time.Second)/rate), time.Microsecond)
}

// user is one simulated user: request, record, wait (with a rate), until
// ctx ends. Users start at different bodies so they do not send the same
// sequence.
func user(ctx context.Context, t Target, bodies [][]byte, id int, cfg LoadConfig, c *collector) {
	var period time.Duration
	if cfg.RatePerUser > 0 {
		period = time.Duration(float64(time.Second) / cfg.RatePerUser)
	}
	var wait *time.Timer
	for i := id * 7919; ; i++ {
		if ctx.Err() != nil {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		t0 := time.Now()
		err := t.Do(rctx, bodies[i%len(bodies)])
		d := time.Since(t0)
		cancel()
		if ctx.Err() != nil {
			return // cut short by the end of the run: not a measurement
		}
		c.record(d, err)
		if period <= d {
			continue
		}
		if wait == nil {
			wait = time.NewTimer(period - d)
			defer wait.Stop()
		} else {
			wait.Reset(period - d)
		}
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
	}
}

// breaker finds the breaking point in a stream of rows.
type breaker struct {
	cfg   LoadConfig
	prev  Row  // the row before the current bad run
	first *Row // first row of the current bad run
	bad   int  // length of the current bad run
	why   string
}

// observe takes the next row and returns the break once BreakSeconds bad
// rows in a row have been seen. Rows before the first user completed a
// request are not judged.
func (b *breaker) observe(r Row) *Break {
	reason := ""
	switch {
	case r.Failures > 0:
		reason = fmt.Sprintf("%d failures", r.Failures)
	case r.Requests == 0 && r.Users > 0 && r.Elapsed > b.cfg.Timeout:
		reason = "no request completed"
	case r.Requests > 0 && r.P95 > b.cfg.BreakP95:
		reason = fmt.Sprintf("p95 %s > %s", r.P95.Round(time.Millisecond), b.cfg.BreakP95)
	}
	if reason == "" {
		b.prev, b.first, b.bad = r, nil, 0
		return nil
	}
	if b.first == nil {
		first := r
		b.first, b.why = &first, reason
	}
	b.bad++
	if b.bad < b.cfg.BreakSeconds {
		return nil
	}
	return &Break{At: *b.first, LastGood: b.prev, Reason: b.why}
}
