package testkit

import (
	"testing"
	"time"
)

// Eventually polls cond until it returns true and returns how long that
// took, or fails the test with what once timeout has passed: the way to
// wait for something asynchronous without sleeping for a guessed duration
// (nats-server's checkFor). Polls start 5 ms apart and slow down to 50 ms,
// so a quick condition is seen quickly and a slow one (a metrics scrape, a
// stream lookup) does not load the machine.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	wait := 5 * time.Millisecond
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
	return time.Since(start)
}
