package sink

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

func newPublisher(t *testing.T, maxPayload int32) (*Publisher, jetstream.JetStream) {
	t.Helper()
	opts := testkit.NATSOptions(t.TempDir())
	if maxPayload > 0 {
		opts.MaxPayload = maxPayload
	}
	srv := testkit.StartNATSWith(t, opts)
	nc := testkit.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testPublisherConfig()
	for name, subj := range map[string]string{cfg.ResultsStream: cfg.Results, cfg.DLQStream: cfg.DLQ} {
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{subj + ".>"}, Duplicates: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := NewPublisher(nc, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, js
}

// outcomes collects done callbacks and checks each is called once.
type outcomes struct {
	mu   sync.Mutex
	errs map[string][]error
}

func (o *outcomes) done(key string) func(error) {
	return func(err error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.errs[key] = append(o.errs[key], err)
	}
}

func (o *outcomes) get(key string) []error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]error(nil), o.errs[key]...)
}

func TestPublishResultHeadersAndDedup(t *testing.T) {
	t.Parallel()
	p, js := newPublisher(t, 0)
	o := &outcomes{errs: map[string][]error{}}
	from := nats.Header{}
	from.Set("traceparent", "00-abc-def-01")
	from.Set("tracestate", "k=v")
	from.Set("X-Request-Id", "rq-1")
	from.Set("Reply-To", "_INBOX.x") // not copied: only trace headers travel
	at := time.Date(2026, 11, 25, 1, 2, 3, 456789000, time.FixedZone("CET", 3600))
	msg := p.ResultMsg([]byte(`{"id":"r-1"}`), Meta{ID: "r-1", Model: "m@0123456789ab", From: from}, at)
	if err := p.PublishResult(msg, o.done("first")); err != nil {
		t.Fatal(err)
	}
	again := p.ResultMsg([]byte(`{"id":"r-1"}`), Meta{ID: "r-1", Model: "m@0123456789ab", From: from}, at)
	if err := p.PublishResult(again, o.done("again")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "both outcomes", func() bool { return len(o.get("first")) == 1 && len(o.get("again")) == 1 })
	if e := o.get("first")[0]; e != nil {
		t.Fatalf("first publish: %v", e)
	}
	if e := o.get("again")[0]; e != nil {
		t.Fatalf("a duplicate is a success (already stored): %v", e)
	}
	s, _ := js.Stream(ctx, testResultsStream)
	info, _ := s.Info(ctx)
	if info.State.Msgs != 1 {
		t.Errorf("%d stored results, want 1 (deduplicated by Nats-Msg-Id)", info.State.Msgs)
	}
	got, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Nats-Msg-Id": "r-1", "Model": "m@0123456789ab", "Scored-At": "2026-11-25T00:02:03.456Z",
		"traceparent": "00-abc-def-01", "tracestate": "k=v", "X-Request-Id": "rq-1", "Reply-To": ""}
	for k, v := range want {
		if got.Header.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, got.Header.Get(k), v)
		}
	}
}

func TestPublishWithoutStreamReportsFailure(t *testing.T) {
	t.Parallel()
	p, _ := newPublisher(t, 0)
	o := &outcomes{errs: map[string][]error{}}
	msg := p.ResultMsg([]byte(`{}`), Meta{ID: "x"}, time.Now())
	msg.Subject = "no.stream.here"
	if err := p.PublishResult(msg, o.done("x")); err != nil {
		return // refused at once: also a failure the caller sees
	}
	testkit.Eventually(t, 15*time.Second, "failure reported", func() bool { return len(o.get("x")) == 1 })
	if err := o.get("x")[0]; err == nil {
		t.Fatal("publish to a subject without a stream reported success")
	}
	if p.Pending() != 0 {
		t.Errorf("%d pending after the outcome", p.Pending())
	}
}

func TestDeadLetterTruncatesToFit(t *testing.T) {
	t.Parallel()
	const maxPayload = 4096
	p, js := newPublisher(t, maxPayload)
	payload := []byte(strings.Repeat("x", 10000))
	hdr := nats.Header{}
	hdr.Set("X-Request-Id", "rq-9")
	dl := p.DeadLetterMsg(DeadLetter{
		ID: "big", Code: "payload_too_large", Error: "payload is 10000 bytes\r\nInjected: header",
		Subject: "loans.score", Sequence: 42, Payload: payload, Header: hdr,
	}, maxPayload, time.Now())
	o := &outcomes{errs: map[string][]error{}}
	if err := p.PublishDeadLetter(dl, o.done("big")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "dead letter acknowledged", func() bool { return len(o.get("big")) == 1 })
	if err := o.get("big")[0]; err != nil {
		t.Fatalf("dead letter not stored: %v", err)
	}
	s, _ := js.Stream(context.Background(), testPublisherConfig().DLQStream)
	got, err := s.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.Get("Payload-Truncated") != strconv.Itoa(len(payload)) || len(got.Data) == 0 || len(got.Data) >= len(payload) ||
		string(got.Data) != string(payload[:len(got.Data)]) {
		t.Errorf("truncation: header %q, %d bytes kept", got.Header.Get("Payload-Truncated"), len(got.Data))
	}
	for k, v := range map[string]string{"Nats-Msg-Id": "dlq:big", "Error-Code": "payload_too_large", "Original-Subject": "loans.score",
		"Original-Sequence": "42", "X-Request-Id": "rq-9", "Error": "payload is 10000 bytes  Injected: header", "Injected": ""} {
		if got.Header.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, got.Header.Get(k), v)
		}
	}

	small := p.DeadLetterMsg(DeadLetter{ID: "s", Code: "invalid_input", Payload: []byte("{"), Subject: "loans.score", Sequence: 1}, maxPayload, time.Now())
	if small.Header.Get("Payload-Truncated") != "" || string(small.Data) != "{" {
		t.Errorf("a small payload was changed: %q %v", small.Data, small.Header)
	}
}

// testResultsStream and testPublisherConfig are DESIGN.md's results and
// dead-letter subjects and streams (the service takes them from
// ingest.Topology).
const testResultsStream = "LOANS_SCORED"

func testPublisherConfig() PublisherConfig {
	c := DefaultPublisherConfig()
	c.Results, c.DLQ, c.ResultsStream, c.DLQStream = "loans.scored", "loans.dlq", testResultsStream, "LOANS_DLQ"
	return c
}

func TestPublisherConfigValidate(t *testing.T) {
	t.Parallel()
	if err := testPublisherConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := DefaultPublisherConfig().Validate(); err == nil {
		t.Error("a configuration without subjects and streams accepted")
	}
	bad := testPublisherConfig()
	bad.MaxPending = 0
	if err := bad.Validate(); err == nil {
		t.Error("max pending 0 accepted")
	}
	if _, err := NewPublisher(nil, bad, nil); err == nil || errors.Is(err, nil) {
		t.Error("NewPublisher accepted an invalid configuration")
	}
}

// TestResultStoredOncePerIDBeyondTheDedupWindow publishes the same id's
// result again after the stream's dedup window has passed, as a
// redelivery after a long outage does: Nats-Msg-Id no longer protects it,
// the result's own subject does.
func TestResultStoredOncePerIDBeyondTheDedupWindow(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := testPublisherConfig()
	const window = 100 * time.Millisecond
	for name, subj := range map[string]string{cfg.ResultsStream: cfg.Results, cfg.DLQStream: cfg.DLQ} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subj, subj + ".>"}, Duplicates: window}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := NewPublisher(nc, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := func(body string, at time.Time) error {
		o := &outcomes{errs: map[string][]error{}}
		if err := p.PublishResult(p.ResultMsg([]byte(body), Meta{ID: "late-1"}, at), o.done("r")); err != nil {
			return err
		}
		testkit.Eventually(t, 10*time.Second, "outcome", func() bool { return len(o.get("r")) == 1 })
		return o.get("r")[0]
	}
	if err := store(`{"first":true}`, time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * window) // past the dedup window: Nats-Msg-Id dedup is gone
	if err := store(`{"second":true}`, time.Now()); err != nil {
		t.Fatalf("the second result of an id is a success (stored already): %v", err)
	}
	dl := p.DeadLetterMsg(DeadLetter{ID: "late-1", Code: "invalid_input", Payload: []byte("{")}, nc.MaxPayload(), time.Now())
	if err := p.Store(ctx, dl); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * window)
	if err := p.Store(ctx, p.DeadLetterMsg(DeadLetter{ID: "late-1", Code: "invalid_input", Payload: []byte("[")}, nc.MaxPayload(), time.Now())); err != nil {
		t.Fatalf("the second dead letter of an id is a success (stored already): %v", err)
	}
	s, err := js.Stream(ctx, cfg.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetLastMsgForSubject(ctx, "loans.scored.late-1")
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Info(ctx); info.State.Msgs != 1 || string(got.Data) != `{"first":true}` {
		t.Errorf("%d results stored, the one of late-1 is %s; want only the first", info.State.Msgs, got.Data)
	}
	d, _ := js.Stream(ctx, cfg.DLQStream)
	if info, _ := d.Info(ctx); info.State.Msgs != 1 {
		t.Errorf("%d dead letters stored, want 1", info.State.Msgs)
	}
}

// TestUnstorablePublishesAreMarkedPermanent: what JetStream refuses for
// good comes back wrapped in ErrUnstorable; a missing stream does not.
func TestUnstorablePublishesAreMarkedPermanent(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := testPublisherConfig()
	// A results stream whose messages may hold 200 bytes at most.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: cfg.ResultsStream, Subjects: []string{cfg.Results + ".>"}, MaxMsgSize: 200}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: cfg.DLQStream, Subjects: []string{cfg.DLQ + ".>"}}); err != nil {
		t.Fatal(err)
	}
	p, err := NewPublisher(nc, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	outcome := func(msg *nats.Msg) error {
		o := &outcomes{errs: map[string][]error{}}
		if err := p.PublishResult(msg, o.done("m")); err != nil {
			return err
		}
		testkit.Eventually(t, 15*time.Second, "outcome", func() bool { return len(o.get("m")) == 1 })
		return o.get("m")[0]
	}
	big := p.ResultMsg([]byte(strings.Repeat("x", 300)), Meta{ID: "big"}, time.Now())
	if err := outcome(big); !errors.Is(err, ErrUnstorable) || !Permanent(err) {
		t.Errorf("a result over the stream's max_msg_size: %v, want ErrUnstorable", err)
	}
	// Headers over JetStream's 64 KiB (only a message not built by
	// ResultMsg can have them: ResultMsg bounds what it copies).
	hdr := p.DeadLetterMsg(DeadLetter{ID: "hdr", Code: "x"}, nc.MaxPayload(), time.Now())
	hdr.Header.Set("Padding", strings.Repeat("p", 70<<10))
	if err := p.Store(ctx, hdr); !errors.Is(err, ErrUnstorable) {
		t.Errorf("a dead letter with 70 KiB of headers: %v, want ErrUnstorable", err)
	}
	huge := p.DeadLetterMsg(DeadLetter{ID: "huge", Code: "x"}, nc.MaxPayload(), time.Now())
	huge.Data = make([]byte, nc.MaxPayload()+1)
	if err := outcome(huge); !errors.Is(err, ErrUnstorable) {
		t.Errorf("a message over the server's max_payload: %v, want ErrUnstorable", err)
	}
	lost := p.ResultMsg([]byte(`{}`), Meta{ID: "x"}, time.Now())
	lost.Subject = "no.stream.here"
	if err := outcome(lost); err == nil || Permanent(err) {
		t.Errorf("no stream (transient: it may be created): %v", err)
	}
}

func TestCopiedHeadersAreBounded(t *testing.T) {
	t.Parallel()
	p, _ := newPublisher(t, 0)
	from := nats.Header{}
	from.Set(HeaderTraceparent, "00-abc-def-01")
	from.Set(HeaderTracestate, strings.Repeat("s", 65470))
	from.Set(HeaderRequestID, strings.Repeat("r", 300))
	msg := p.ResultMsg([]byte(`{}`), Meta{ID: "a", From: from}, time.Now())
	if got := msg.Header.Get(HeaderTracestate); got != strings.Repeat("s", 1024) {
		t.Errorf("tracestate kept %d bytes, want the first 1024", len(got))
	}
	if got := msg.Header.Get(HeaderRequestID); got != strings.Repeat("r", 256) {
		t.Errorf("X-Request-Id kept %d bytes, want the first 256", len(got))
	}
	if got := msg.Header.Get(HeaderTraceparent); got != "00-abc-def-01" {
		t.Errorf("traceparent %q changed", got)
	}
	if got, want := msg.Header.Get(HeaderTruncated), "tracestate=65470,X-Request-Id=300"; got != want {
		t.Errorf("Header-Truncated %q, want %q", got, want)
	}
	dl := p.DeadLetterMsg(DeadLetter{ID: "LOANS:9", Code: "invalid_input", Header: from, RefusedID: strings.Repeat("i", 65445)}, 1<<20, time.Now())
	if got := dl.Header.Get(HeaderOriginalMsgID); len(got) != 1024 {
		t.Errorf("Original-Msg-Id kept %d bytes, want 1024", len(got))
	}
	if got, want := dl.Header.Get(HeaderTruncated), "tracestate=65470,X-Request-Id=300,Original-Msg-Id=65445"; got != want {
		t.Errorf("dead letter Header-Truncated %q, want %q", got, want)
	}
	if dl.Subject != "loans.dlq.LOANS:9" || msg.Subject != "loans.scored.a" {
		t.Errorf("subjects %q, %q: want one per id", msg.Subject, dl.Subject)
	}
}
