package faulttest

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// poison is one hostile input and the error code it must end with.
type poison struct {
	name    string
	body    []byte
	replyTo string
	code    string
}

func poisons() []poison {
	garbage := make([]byte, 4096)
	r := rand.New(rand.NewPCG(7, 7)) // fixed seed: the same bytes every run
	for i := range garbage {
		garbage[i] = byte(r.UintN(256))
	}
	app := string(App(1))
	// Over limits.max_payload (64 KiB) but under the server's 1 MiB.
	big := []byte(`{"pad":"` + strings.Repeat("x", 100<<10) + `",` + app[1:])
	nested := []byte(strings.Repeat(`{"a":[`, 5000) + strings.Repeat(`]}`, 5000)) // 40 KB: under the payload limit
	return []poison{
		{name: "invalid-json", body: []byte(`{"Term":84,`), code: "invalid_input"},
		{name: "truncated", body: []byte(app[:len(app)/2]), code: "invalid_input"},
		{name: "too-large", body: big, code: "payload_too_large"},
		{name: "binary", body: garbage, code: "invalid_input"},
		{name: "nested", body: nested, code: "invalid_input"},
		{name: "nested-field", body: []byte(`{"Term":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + app[strings.Index(app, ","):]), code: "invalid_input"},
		{name: "nan-string", body: []byte(strings.Replace(app, `"Term":13`, `"Term":"NaN"`, 1)), code: "invalid_input"},
		{name: "inf-string", body: []byte(strings.Replace(app, `"GrAppv":1500000.0`, `"GrAppv":"Inf"`, 1)), code: "invalid_input"},
		{name: "array", body: []byte("[" + app + "]"), code: "invalid_input"},
		{name: "empty", body: nil, code: "invalid_input"},
		{name: "reply-js", body: App(2), replyTo: "$JS.API.STREAM.DELETE.LOANS", code: "invalid_input"},
		{name: "reply-sys", body: App(3), replyTo: "$SYS.REQ.SERVER.PING", code: "invalid_input"},
		{name: "reply-srv", body: App(4), replyTo: "$SRV.PING", code: "invalid_input"},
		{name: "reply-kv", body: App(5), replyTo: "$KV.config.key", code: "invalid_input"},
		{name: "reply-outside-allow", body: App(6), replyTo: "payments.approve", code: "invalid_input"},
		{name: "reply-wildcard", body: App(7), replyTo: "_INBOX.>", code: "invalid_input"},
	}
}

// TestPoisonMessages mixes hostile inputs into a run of valid ones: each
// hostile one must become exactly one dead letter (Error-Code set,
// Nats-Msg-Id dlq:<id>) and exactly one error result, nothing may be
// published to a refused Reply-To, the stream LOANS must survive, and
// every valid application must be scored.
func TestPoisonMessages(t *testing.T) {
	valid := size(2000, 20000)
	srv := StartServer(t, bins.NATSServer, ServerConfig{})
	w := testkit.StartScorer(t, bins.Scorer, "worker", ScorerSettings(t, srv.URL()))
	nc := Connect(t, srv.URL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// Watch the refused destinations: nothing may arrive there.
	leaks := make(chan *nats.Msg, 16)
	for _, subj := range []string{"$JS.API.STREAM.DELETE.LOANS", "$SYS.REQ.SERVER.PING", "$SRV.PING", "$KV.config.key", "payments.approve"} {
		sub, err := nc.ChanSubscribe(subj, leaks)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
	}
	// An allowed Reply-To gets its copy.
	inbox, err := nc.SubscribeSync("_INBOX.faulttest.reply")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ps := poisons()
	pub := &Publisher{JS: js, Subject: "loans.score", Prefix: "ok"}
	pubErr := make(chan error, 1)
	go func() { pubErr <- pub.Run(ctx, valid) }()
	for _, p := range ps {
		msg := &nats.Msg{Subject: "loans.score", Data: p.body, Header: nats.Header{"Nats-Msg-Id": []string{"poison-" + p.name}}}
		if p.replyTo != "" {
			msg.Header.Set("Reply-To", p.replyTo)
		}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatalf("publish %s: %v", p.name, err)
		}
	}
	okReply := &nats.Msg{Subject: "loans.score", Data: App(8), Header: nats.Header{"Nats-Msg-Id": []string{"reply-allowed"}, "Reply-To": []string{"_INBOX.faulttest.reply"}}}
	if _, err := js.PublishMsg(ctx, okReply); err != nil {
		t.Fatal(err)
	}
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	total := int64(valid + len(ps) + 1)
	WaitStream(t, js, "LOANS_SCORED", total, 2*time.Minute)
	WaitStream(t, js, "LOANS_DLQ", int64(len(ps)), time.Minute)
	testkit.Eventually(t, time.Minute, "LOANS empty", func() bool { return StreamMsgs(js, "LOANS") == 0 })

	results, err := ReadStream(ctx, js, "LOANS_SCORED", false)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := ReadStream(ctx, js, "LOANS_DLQ", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		id := "poison-" + p.name
		r := results.Results[id]
		switch {
		case results.Count[id] != 1:
			t.Errorf("%s: %d results, want 1", p.name, results.Count[id])
		case r.Error == nil:
			t.Errorf("%s: scored, want error %s", p.name, p.code)
		case r.Error.Code != p.code:
			t.Errorf("%s: error code %s, want %s", p.name, r.Error.Code, p.code)
		}
		if dead.Count["dlq:"+id] != 1 {
			t.Errorf("%s: %d dead letters, want 1", p.name, dead.Count["dlq:"+id])
			continue
		}
		h := dead.Headers["dlq:"+id]
		if h.Get("Error-Code") != p.code || h.Get("Original-Subject") != "loans.score" || h.Get("Original-Sequence") == "" {
			t.Errorf("%s: dead letter headers %v", p.name, h)
		}
	}
	scored := 0
	for i := range valid {
		if r, ok := results.Results[ID("ok", i)]; ok && r.Proba != nil && results.Count[ID("ok", i)] == 1 {
			scored++
		}
	}
	if scored != valid {
		t.Errorf("%d of %d valid applications scored exactly once", scored, valid)
	}
	if r := results.Results["reply-allowed"]; r.Proba == nil {
		t.Errorf("reply-allowed: %+v, want a score", r)
	}
	m, err := inbox.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("allowed Reply-To got no copy: %v", err)
	}
	if !bytes.Contains(m.Data, []byte(`"id":"reply-allowed"`)) {
		t.Errorf("allowed Reply-To copy: %s", m.Data)
	}
	// The refused subjects were subscribed before anything was published
	// and every result is stored: a leak would have arrived by now, since
	// the copy to the allowed Reply-To (published the same way) has.
	select {
	case leak := <-leaks:
		t.Errorf("the scorer published to refused subject %s: %.200s", leak.Subject, leak.Data)
	default:
	}
	if _, err := js.Stream(ctx, "LOANS"); err != nil {
		t.Errorf("stream LOANS after the hostile Reply-To: %v", err)
	}
	invalid := w.Metric(t, `scorer_messages_total{outcome="invalid"}`)
	t.Logf("%d valid scored, %d hostile → %d dead letters and %d error results (metric invalid=%v), 0 leaks to refused Reply-To subjects",
		scored, len(ps), dead.Total, len(ps), invalid)
	if w.Exited() {
		t.Fatal("the worker exited")
	}
}
