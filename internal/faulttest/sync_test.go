package faulttest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// TestSyncAnswersAlwaysArrive sends the real binary the requests that used
// to get no answer at all: an array of 1,000 empty objects with a long
// Nats-Msg-Id (each item's id repeats it, so the answer outgrew the
// server's max payload and was dropped without a word), with an id over
// limits.max_id, and requests whose reply subject is a '$' subject. The
// first two must get a proper error answer with the micro error headers,
// '$' subjects none at all, and valid requests meanwhile their scores;
// the worker's VmHWM must stay under 256 MiB after 32 of the large ones.
func TestSyncAnswersAlwaysArrive(t *testing.T) {
	srv := StartServer(t, bins.NATSServer, ServerConfig{})
	settings := ScorerSettings(t, srv.URL())
	settings["limits.max_id"] = "1024"
	w := testkit.StartScorer(t, bins.Scorer, "worker", settings)
	nc := Connect(t, srv.URL())
	_, peakBefore, err := w.Memory()
	if err != nil {
		t.Fatal(err)
	}

	empties := []byte("[" + strings.TrimSuffix(strings.Repeat("{},", 1000), ",") + "]")
	request := func(id string, body []byte) *nats.Msg {
		t.Helper()
		msg := &nats.Msg{Subject: "loans.score.sync", Data: body, Header: nats.Header{}}
		if id != "" {
			msg.Header.Set("Nats-Msg-Id", id)
		}
		resp, err := nc.RequestMsg(msg, 10*time.Second)
		if err != nil {
			t.Fatalf("request with a %d-byte id: no answer: %v", len(id), err)
		}
		return resp
	}
	status := func(m *nats.Msg) string { return m.Header.Get(micro.ErrorCodeHeader) }

	// 1,000 items each naming a 1,000-byte id: over 1 MiB of answer.
	tooLarge := 0
	for i := range 32 {
		resp := request(strings.Repeat("i", 1000)+strconv.Itoa(i), empties)
		if status(resp) != "413" || !strings.Contains(string(resp.Data), `"payload_too_large"`) {
			t.Fatalf("answer %d: status %q body %.200s, want 413 payload_too_large", i, status(resp), resp.Data)
		}
		tooLarge++
	}
	// An id over limits.max_id: refused by name.
	resp := request(strings.Repeat("j", 2000), App(1))
	if status(resp) != "400" || !strings.Contains(string(resp.Data), `"Nats-Msg-Id":"too_long"`) {
		t.Errorf("a 2,000-byte id: status %q body %.200s, want 400 naming Nats-Msg-Id", status(resp), resp.Data)
	}
	// A '$' reply subject gets nothing; the listener would see it.
	leak, err := nc.SubscribeSync("$JS.API.STREAM.DELETE.LOANS")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishMsg(&nats.Msg{Subject: "loans.score.sync", Reply: "$JS.API.STREAM.DELETE.LOANS", Data: App(2)}); err != nil {
		t.Fatal(err)
	}
	// A valid request after all that is scored.
	ok := request("after-1", App(3))
	if status(ok) != "" || !strings.Contains(string(ok.Data), `"default_proba"`) {
		t.Errorf("a valid request afterwards: status %q body %s", status(ok), ok.Data)
	}
	if m, err := leak.NextMsg(time.Second); err == nil {
		t.Errorf("an answer went to a '$' subject: %s %.100s", m.Subject, m.Data)
	}
	refused := w.Metric(t, `scorer_requests_total{outcome="reply_refused",path="sync"}`)
	_, peakAfter, err := w.Memory()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d answers over the max payload answered 413, the long id 400, %v '$' reply subjects refused; VmHWM %.1f -> %.1f MiB",
		tooLarge, refused, float64(peakBefore)/(1<<20), float64(peakAfter)/(1<<20))
	if refused != 1 {
		t.Errorf("reply_refused %v, want 1", refused)
	}
	if peakAfter > 256<<20 {
		t.Errorf("VmHWM %.1f MiB after the large answers, want under 256 MiB", float64(peakAfter)/(1<<20))
	}
}
