package worker

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// TestAsyncReplyToControlCharacters: a Reply-To inside reply.allow that
// holds a control character, DEL or a space is refused like any refused
// Reply-To (error result naming it, dead letter) and nothing is published
// to it.
func TestAsyncReplyToControlCharacters(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	var mu sync.Mutex
	var copies []string
	sub, err := r.nc.Subscribe("_INBOX.ctl.>", func(m *nats.Msg) {
		mu.Lock()
		copies = append(copies, m.Subject)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	data, _ := application(rand.New(rand.NewPCG(7, 8)))
	refused := map[string]string{"bell": "_INBOX.ctl.a\x07b", "del": "_INBOX.ctl.a\x7f", "space": "_INBOX.ctl.a b", "nul": "_INBOX.ctl.\x00"}
	for id, replyTo := range refused {
		r.publish(id, data, map[string]string{"Reply-To": replyTo})
	}
	r.publish("allowed", data, map[string]string{"Reply-To": "_INBOX.ctl.ok"})
	r.start(DefaultConfig())

	testkit.Eventually(t, 10*time.Second, "all answered", func() bool {
		return r.count("LOANS_SCORED") == uint64(len(refused)+1) && r.count("LOANS") == 0
	})
	for _, m := range r.stored("LOANS_SCORED") {
		b := decodeResult(t, m.Data)
		if _, ok := refused[b.ID]; ok && (b.Error == nil || b.Error.Fields["Reply-To"] != "not_allowed") {
			t.Errorf("%s: %+v, want invalid_input on Reply-To", b.ID, b)
		}
	}
	if n := r.count("LOANS_DLQ"); n != uint64(len(refused)) {
		t.Errorf("%d dead letters, want %d", n, len(refused))
	}
	testkit.Eventually(t, 10*time.Second, "the allowed copy", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(copies) > 0
	})
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(copies) != 1 || copies[0] != "_INBOX.ctl.ok" {
		t.Errorf("copies published to %q, want only _INBOX.ctl.ok", copies)
	}
}
