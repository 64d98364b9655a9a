package worker

import (
	"sync"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// TestRetryQueueRunsRoundsWhenDue: rounds run in due order, each when its
// timer says (the queue sleeps, it does not poll), an earlier round added
// later runs first, and recovered runs every round at once.
func TestRetryQueueRunsRoundsWhenDue(t *testing.T) {
	q := newRetryQueue()
	quit := make(chan struct{})
	var mu sync.Mutex
	var ran []*delivery
	var at []time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.run(quit, func(r retryRound) {
			mu.Lock()
			ran = append(ran, r.d)
			at = append(at, time.Now())
			mu.Unlock()
		})
	}()
	a, b, c, far := &delivery{}, &delivery{}, &delivery{}, &delivery{}
	now := time.Now()
	q.add(retryRound{d: a, due: now.Add(150 * time.Millisecond)})
	q.add(retryRound{d: far, due: now.Add(time.Hour)})
	q.add(retryRound{d: b, due: now.Add(50 * time.Millisecond)}) // earlier: wakes the loop
	q.add(retryRound{d: c, due: now.Add(100 * time.Millisecond)})
	testkit.Eventually(t, 10*time.Second, "three rounds run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ran) == 3
	})
	mu.Lock()
	if ran[0] != b || ran[1] != c || ran[2] != a {
		t.Errorf("rounds ran out of due order")
	}
	for i, want := range []time.Duration{50, 100, 150} {
		if at[i].Before(now.Add(want * time.Millisecond)) {
			t.Errorf("round %d ran before it was due", i)
		}
	}
	mu.Unlock()
	q.recovered() // the one due in an hour runs now
	testkit.Eventually(t, 10*time.Second, "the far round run by recovered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ran) == 4 && ran[3] == far
	})
	close(quit)
	<-done
}

func TestRetryDelayDoublesWithJitter(t *testing.T) {
	t.Parallel()
	for n, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		for range 100 {
			d := retryDelay(time.Second, n)
			if d < base*4/5 || d > base*6/5 {
				t.Fatalf("round %d: %v outside %v ± 20%%", n, d, base)
			}
		}
	}
	if d := retryDelay(0, 0); d < 40*time.Millisecond || d > 60*time.Millisecond {
		t.Errorf("a zero nak_delay retries after %v, want about 50ms", d)
	}
}
