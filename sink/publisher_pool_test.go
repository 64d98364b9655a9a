package sink

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
)

func demoModel(t *testing.T) *model.Loaded {
	t.Helper()
	f, err := modelfile.Parse(demo.Name, demo.Bytes(), modelfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return model.NewLoaded(f.Model, model.Version(demo.Name, demo.Bytes()), true)
}

// Pooled result messages are reused one after the other: every stored
// result must carry its own body and exactly its own headers, with nothing
// left over from the message that used the pooled storage before (the
// trace headers of odd results must not leak into even ones).
func TestScoredReusesMessagesWithoutLeftovers(t *testing.T) {
	t.Parallel()
	p, js := newPublisher(t, 0)
	m := demoModel(t)
	o := &outcomes{errs: map[string][]error{}}
	at := time.Date(2026, 11, 25, 1, 2, 3, 456789000, time.UTC)
	const n = 20
	for i := range n {
		from := nats.Header{}
		if i%2 == 1 {
			from.Set(HeaderTraceparent, fmt.Sprintf("00-trace-%d-01", i))
		}
		id := fmt.Sprintf("pooled-%d", i)
		r := p.Scored(m, []float64{float64(i) / 64}, nil, Meta{ID: id, Model: m.Version, From: from}, at.Add(time.Duration(i)*time.Millisecond))
		if err := p.PublishScored(r, o.done(id)); err != nil {
			t.Fatal(err)
		}
		// One at a time, so that each one reuses the previous one's storage.
		testkit.Eventually(t, 10*time.Second, "outcome of "+id, func() bool { return len(o.get(id)) == 1 })
		if err := o.get(id)[0]; err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	ctx := context.Background()
	s, err := js.Stream(ctx, testResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		got, err := s.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("pooled-%d", i)
		wantBody := string(AppendResult(nil, id, m, []float64{float64(i) / 64}, nil))
		if string(got.Data) != wantBody {
			t.Errorf("result %d body %s, want %s", i, got.Data, wantBody)
		}
		want := map[string]string{HeaderMsgID: id, HeaderModel: m.Version, HeaderExpectedLastSubjectSeq: "0",
			HeaderScoredAt: fmt.Sprintf("2026-11-25T01:02:03.%03dZ", 456+i)}
		if i%2 == 1 {
			want[HeaderTraceparent] = fmt.Sprintf("00-trace-%d-01", i)
		}
		if len(got.Header) != len(want) {
			t.Errorf("result %d headers %v, want exactly %v", i, got.Header, want)
		}
		for k, v := range want {
			if got.Header.Get(k) != v {
				t.Errorf("result %d header %s = %q, want %q", i, k, got.Header.Get(k), v)
			}
		}
	}
}

// A publish beyond MaxPending waits up to StallWait for room, then fails
// with ErrTooManyStalledMsgs without calling done; once room is made it
// goes through. The first publish goes to a subject without a stream, so it
// stays pending through JetStream's no-responders retries (two of 250ms),
// far longer than the 50ms stall wait.
func TestPublishStallsAtMaxPending(t *testing.T) {
	t.Parallel()
	p, _ := newPublisher(t, 0)
	p.cfg.MaxPending = 1
	p.cfg.StallWait = 50 * time.Millisecond
	o := &outcomes{errs: map[string][]error{}}
	first := p.ResultMsg([]byte(`{}`), Meta{ID: "first"}, time.Now())
	first.Subject = "no.stream.here"
	if err := p.PublishResult(first, o.done("first")); err != nil {
		t.Fatal(err)
	}
	second := p.ResultMsg([]byte(`{}`), Meta{ID: "second"}, time.Now())
	err := p.PublishResult(second, o.done("second"))
	if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
		t.Fatalf("publish beyond MaxPending: %v, want ErrTooManyStalledMsgs", err)
	}
	p.cfg.StallWait = time.Minute
	third := p.ResultMsg([]byte(`{}`), Meta{ID: "third"}, time.Now())
	if err := p.PublishResult(third, o.done("third")); err != nil {
		t.Fatalf("publish once room was made: %v", err)
	}
	testkit.Eventually(t, 15*time.Second, "outcomes", func() bool { return len(o.get("first")) == 1 && len(o.get("third")) == 1 })
	if o.get("first")[0] == nil {
		t.Error("publish to a subject without a stream reported success")
	}
	if err := o.get("third")[0]; err != nil {
		t.Errorf("third: %v", err)
	}
	if got := o.get("second"); len(got) != 0 {
		t.Errorf("done called for a publish that returned an error: %v", got)
	}
	if p.Pending() != 0 {
		t.Errorf("%d pending after every outcome", p.Pending())
	}
}
