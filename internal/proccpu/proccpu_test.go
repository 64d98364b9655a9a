package proccpu

import (
	"runtime"
	"testing"
	"time"
)

// TestUsedGrowsWithWork: busy work (here the getrusage calls themselves)
// must show as CPU time on a platform that reports it, and Used never goes
// back. Bounded: 10M calls, a few seconds at most.
func TestUsedGrowsWithWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" {
		t.Skip("no CPU time on this platform")
	}
	before := Used()
	last := before
	for range 10_000_000 {
		now := Used()
		if now < last {
			t.Fatalf("CPU time went back from %v to %v", last, now)
		}
		last = now
		if now >= before+20*time.Millisecond {
			return
		}
	}
	t.Fatalf("10M calls left the CPU time at +%v", last-before)
}
