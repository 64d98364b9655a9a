package ingest_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	dto "github.com/prometheus/client_model/go"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/worker"
)

// emptyItems returns an array of n empty objects: a few bytes per item,
// each answered by an error object that repeats the request's id.
func emptyItems(n int) string {
	return "[" + strings.Repeat("{},", n-1) + "{}]"
}

// errorReply checks that resp is a sync error reply with the micro error
// headers, status and code, and returns its body.
func errorReply(t *testing.T, resp *nats.Msg, status, code string) result {
	t.Helper()
	if got := resp.Header.Get(micro.ErrorCodeHeader); got != status {
		t.Fatalf("status %q, want %s: %.300s", got, status, resp.Data)
	}
	if resp.Header.Get(micro.ErrorHeader) == "" {
		t.Fatal("no Nats-Service-Error header")
	}
	var r result
	if err := json.Unmarshal(resp.Data, &r); err != nil || r.Error == nil || r.Error.Code != code {
		t.Fatalf("body %.300s (%v), want code %s", resp.Data, err, code)
	}
	return r
}

// syncOutcome reads scorer_requests_total{path="sync",outcome=outcome}.
func syncOutcome(h *harness, outcome string) float64 {
	var m dto.Metric
	if err := h.met.RequestsTotal.WithLabelValues(metrics.PathSync, outcome).Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestSyncAnswerOverMaxPayloadIs413: 1,000 empty items with a 1,000-byte
// id would be answered by more than the connection's max payload (1 MiB):
// the caller gets a payload_too_large error reply instead of silence.
func TestSyncAnswerOverMaxPayloadIs413(t *testing.T) {
	lim := ingest.DefaultLimits()
	lim.MaxID = ingest.MaxMaxID
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), lim, true)
	nc := startSync(t, h)
	id := strings.Repeat("i", 1000)
	r := errorReply(t, request(t, nc, id, emptyItems(1000)), "413", ingest.CodePayloadTooLarge)
	if r.ID != id || !strings.Contains(r.Error.Message, "max payload") {
		t.Fatalf("id %d bytes, message %q", len(r.ID), r.Error.Message)
	}
	// The same request with a short id fits, and is answered item by item.
	resp := request(t, nc, "short", emptyItems(1000))
	var rs []result
	if err := json.Unmarshal(resp.Data, &rs); err != nil || len(rs) != 1000 || rs[999].ID != "short:999" || rs[999].Error == nil {
		t.Fatalf("short id: %d items (%v)", len(rs), err)
	}
	if got := syncOutcome(h, metrics.OutcomeInvalid); got != 1 {
		t.Errorf("invalid outcomes %v, want 1", got)
	}
}

// TestSyncAnswerOverMaxPayloadAfterScoring: when only the finished answer
// shows that it is too large (good items scored by the batcher, whose
// results outgrow a small server max payload), the caller still gets the
// 413 error reply, sent from the batcher.
func TestSyncAnswerOverMaxPayloadAfterScoring(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	opts := testkit.NATSOptions(t.TempDir())
	opts.MaxPayload = 4096
	srv := testkit.StartNATSWith(t, opts)
	nc := testkit.Connect(t, srv)
	svc, err := ingest.NewSyncService(nc, ingest.DefaultSyncConfig(), h.door(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })

	// 40 short applications of 37 bytes, each answered by about 110 bytes
	// of result: 1.5 KB of request, 4.4 KB of answer, while the least the
	// answer could take (the ids) is 1.4 KB.
	const app = `{"0":1,"1":2,"2":3,"3":4,"4":5,"5":6}`
	id := strings.Repeat("b", 20)
	errorReply(t, request(t, nc, id, "["+strings.Repeat(app+",", 39)+app+"]"), "413", ingest.CodePayloadTooLarge)
	// Ten of them fit.
	resp := request(t, nc, id, "["+strings.Repeat(app+",", 9)+app+"]")
	var rs []result
	if err := json.Unmarshal(resp.Data, &rs); err != nil || len(rs) != 10 || rs[9].ID != id+":9" || rs[9].Error != nil || rs[9].DefaultProba <= 0 {
		t.Fatalf("%s (%v)", resp.Data, err)
	}
	if got := syncOutcome(h, metrics.OutcomeInvalid); got != 1 {
		t.Errorf("invalid outcomes %v, want 1", got)
	}
}

// TestSyncRequestIDChecked: a Nats-Msg-Id that could not name a result
// (too long, control characters) is a 400 naming the header, answered
// under a generated id.
func TestSyncRequestIDChecked(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	nc := startSync(t, h)
	for id, problem := range map[string]string{
		strings.Repeat("x", ingest.DefaultMaxID+1): ingest.FieldTooLong,
		"bell\x07":  ingest.FieldInvalidCharacters,
		"del\x7f":   ingest.FieldInvalidCharacters,
		"bad\xffu8": ingest.FieldInvalidCharacters,
	} {
		r := errorReply(t, request(t, nc, id, h.application(0)), "400", ingest.CodeInvalidInput)
		if r.Error.Fields[ingest.HeaderMsgID] != problem || len(r.ID) != 22 {
			t.Errorf("id %.20q: fields %v, reply id %q; want %s under a generated id", id, r.Error.Fields, r.ID, problem)
		}
	}
	// An id of exactly limits.max_id bytes is fine.
	id := strings.Repeat("y", ingest.DefaultMaxID)
	var r result
	if err := json.Unmarshal(request(t, nc, id, h.application(0)).Data, &r); err != nil || r.ID != id || r.Error != nil {
		t.Fatalf("id of max_id bytes: %+v (%v)", r, err)
	}
}

// TestSyncNeverAnswersDollarSubjects: a request whose reply subject is a
// '$' subject (the JetStream API here) or holds control characters or
// spaces gets no answer at all; the refusal is counted. Inboxes are
// answered as before.
func TestSyncNeverAnswersDollarSubjects(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), true)
	nc := startSync(t, h)
	// The service's own connection receives what it publishes (echo is
	// on), so it doubles as the spy.
	spy := nc
	var mu sync.Mutex
	var got []string
	for _, subj := range []string{"$JS.API.>", "$SYS.>", "_INBOX.spy.>"} {
		if _, err := spy.Subscribe(subj, func(m *nats.Msg) {
			mu.Lock()
			got = append(got, m.Subject)
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	refused := []string{
		"$JS.API.STREAM.DELETE.LOANS",
		"$SYS.REQ.SERVER.PING",
		"_INBOX.spy.bell\x07",
		"_INBOX.spy.del\x7f",
		"_INBOX.spy.nul\x00x",
	}
	for _, reply := range refused {
		if err := nc.PublishRequest("loans.score.sync", reply, []byte(h.application(0))); err != nil {
			t.Fatalf("publish with reply %q: %v", reply, err)
		}
	}
	// The handler takes requests in order: once this one is answered, the
	// ones before it were handled.
	var r result
	if err := json.Unmarshal(request(t, nc, "after", h.application(0)).Data, &r); err != nil || r.ID != "after" {
		t.Fatalf("inbox request: %+v (%v)", r, err)
	}
	testkit.Eventually(t, 10*time.Second, "refusals counted", func() bool {
		return syncOutcome(h, ingest.OutcomeReplyRefused) == float64(len(refused))
	})
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 0 {
		t.Fatalf("answers published to refused subjects: %q", got)
	}
}

// TestSyncMemoryBoundedByRequest: 32 requests of 1,000 empty items with a
// 1,000-byte id (answers over the max payload) cost memory in proportion
// to their size, and leave nothing pinned behind.
func TestSyncMemoryBoundedByRequest(t *testing.T) {
	lim := ingest.DefaultLimits()
	lim.MaxID = ingest.MaxMaxID
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), lim, true)
	nc := startSync(t, h)
	id := strings.Repeat("m", 1000)
	body := emptyItems(1000)
	request(t, nc, id, body) // warm up pools and the connection

	const requests = 32
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	for range requests {
		wg.Go(func() {
			msg := nats.NewMsg("loans.score.sync")
			msg.Header.Set("Nats-Msg-Id", id)
			msg.Data = []byte(body)
			resp, err := nc.RequestMsg(msg, 20*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			if resp.Header.Get(micro.ErrorCodeHeader) != "413" {
				t.Errorf("status %q", resp.Header.Get(micro.ErrorCodeHeader))
			}
		})
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	perRequest := (after.TotalAlloc - before.TotalAlloc) / requests
	runtime.GC()
	var settled runtime.MemStats
	runtime.ReadMemStats(&settled)
	reqBytes := uint64(len(body) + len(id))
	t.Logf("request %d bytes: %d bytes allocated per request (%.0f×), heap %d → %d bytes after GC",
		reqBytes, perRequest, float64(perRequest)/float64(reqBytes), before.HeapAlloc, settled.HeapAlloc)
	// Decoding 1,000 items whose six features are all missing makes 1,000
	// small error maps, 0.65 MB (the answer they would become is what is
	// refused); the old code built the whole answer (1 MB, with 1,000
	// copies of the id) on top of them, 8.5 MB in all, and then failed to
	// send it. The bound leaves room for what the in-process server and
	// the callers allocate meanwhile.
	if limit := uint64(2 << 20); perRequest > limit {
		t.Errorf("%d bytes allocated per request, want at most %d", perRequest, limit)
	}
	if grown := int64(settled.HeapAlloc) - int64(before.HeapAlloc); grown > 4<<20 {
		t.Errorf("heap grew by %d bytes over %d requests", grown, requests)
	}
}

// TestSyncReplyFailuresCountedAndLogged: answers that cannot be published
// (here: the service's connection closed while the batcher held the jobs)
// are counted and logged, and a flood of them, or of refused reply
// subjects, makes one bounded log line per interval.
func TestSyncReplyFailuresCountedAndLogged(t *testing.T) {
	h := newHarness(t, "binary_logistic", worker.DefaultConfig(), ingest.DefaultLimits(), false)
	srv, nc := testkit.StartNATS(t)
	client := testkit.Connect(t, srv)
	var logs testkit.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := ingest.NewSyncService(nc, ingest.DefaultSyncConfig(), h.door(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })

	const refused, failed = 3, 5
	longDollar := "$JS.API." + strings.Repeat("X", 1000) // logged clipped to 128 bytes
	for range refused {
		if err := client.PublishRequest("loans.score.sync", longDollar, []byte(h.application(0))); err != nil {
			t.Fatal(err)
		}
	}
	for range failed {
		if err := client.PublishRequest("loans.score.sync", client.NewRespInbox(), []byte(h.application(0))); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 10*time.Second, "requests handled", func() bool {
		return svc.Stats().Endpoints[0].NumRequests == refused+failed
	})
	nc.Close() // the jobs wait in the batcher, which is not running yet
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	testkit.Eventually(t, 10*time.Second, "failures counted", func() bool {
		return syncOutcome(h, ingest.OutcomeReplyFailed) == failed
	})
	if got := syncOutcome(h, ingest.OutcomeReplyRefused); got != refused {
		t.Errorf("%v refusals counted, want %d", got, refused)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var sendLines, refuseLines int
	for _, l := range lines {
		if len(l) > 1024 {
			t.Errorf("log line of %d bytes: %.200s", len(l), l)
		}
		switch {
		case strings.Contains(l, "sync answer not sent"):
			sendLines++
		case strings.Contains(l, "reply subject refused"):
			refuseLines++
		}
	}
	if sendLines != 1 || refuseLines != 1 {
		t.Errorf("%d lines for %d failed answers and %d for %d refusals, want one each:\n%s", sendLines, failed, refuseLines, refused, logs.String())
	}
}
