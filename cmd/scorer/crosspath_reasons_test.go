package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/loan"
	"github.com/loan-scorer/loan-scorer/sink"
)

// reasonApps is how many generated applications ask every door for reasons.
const reasonApps = 300

// reasonK is the reasons each application asks for.
const reasonK = 3

// doorReason is one reason as every door can show it: the feature and the
// bits of its contribution.
type doorReason struct {
	feature string
	bits    uint64
}

// wireReasons is the "reasons" of a result body.
type wireReasons struct {
	Reasons []struct {
		Feature      string  `json:"feature"`
		Contribution float64 `json:"contribution"`
	} `json:"reasons"`
	ReasonsError json.RawMessage `json:"reasons_error"`
}

func (w wireReasons) door(t *testing.T, what string) []doorReason {
	t.Helper()
	if w.ReasonsError != nil {
		t.Fatalf("%s: reasons_error %s", what, w.ReasonsError)
	}
	var out []doorReason
	for _, r := range w.Reasons {
		out = append(out, doorReason{r.Feature, math.Float64bits(r.Contribution)})
	}
	return out
}

// TestEveryDoorGivesTheSameReasons asks for reasonK reasons through every
// door that gives them: HTTP ?explain, the Explain header on the sync and
// async paths, and `scorer score --explain` on JSON lines and on a CSV with
// lower-case booleans. Every door must give every application the same
// reasons, features and contributions bit for bit: one decoder, one
// ranker (model/reason), whatever the path. The reference the reasons are
// checked against is in model/reason's tests.
func TestEveryDoorGivesTheSameReasons(t *testing.T) {
	t.Parallel()
	g := loan.NewGenerator(1313)
	objects := make([][]byte, reasonApps)
	for i := range objects {
		a := g.Next()
		objects[i] = a.AppendJSON(nil)
	}
	doors := map[string][][]doorReason{}
	dir := t.TempDir()
	doors["score (JSON lines)"] = scoreJSONLinesReasons(t, dir, objects)
	doors["score (CSV, lowercase booleans)"] = scoreCSVReasons(t, dir, objects)

	natsURL, httpAddr := benchScorer(t)
	doors["HTTP"] = httpReasons(t, httpAddr, objects)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	doors["sync"] = syncReasons(t, nc, objects)
	doors["async"] = asyncReasons(t, nc, objects)

	want := doors["HTTP"]
	some := 0
	for _, w := range want {
		some += len(w)
	}
	if some < reasonApps {
		t.Fatalf("only %d reasons over %d applications: too few to compare", some, reasonApps)
	}
	for name, got := range doors {
		if len(got) != reasonApps {
			t.Errorf("%s: %d results, want %d", name, len(got), reasonApps)
			continue
		}
		differ := 0
		for i := range got {
			if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
				if differ == 0 {
					t.Errorf("%s: application %d: %v, HTTP %v", name, i, got[i], want[i])
				}
				differ++
			}
		}
		if differ > 0 {
			t.Errorf("%s: %d of %d applications have other reasons than HTTP", name, differ, reasonApps)
		}
	}
}

// runScoreArgs runs `scorer score` in-process with args.
func runScoreArgs(t *testing.T, args ...string) {
	t.Helper()
	root := newRootCmd()
	var stderr bytes.Buffer
	root.SetOut(&stderr)
	root.SetErr(&stderr)
	root.SetArgs(append([]string{"score"}, args...))
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("scorer score %v: %v\n%s", args, err, stderr.String())
	}
}

func scoreJSONLinesReasons(t *testing.T, dir string, objects [][]byte) [][]doorReason {
	t.Helper()
	in, out := filepath.Join(dir, "reasons.jsonl"), filepath.Join(dir, "reasons-scored.jsonl")
	if err := os.WriteFile(in, []byte(objectLines(objects)), 0o644); err != nil {
		t.Fatal(err)
	}
	runScoreArgs(t, in, "-o", out, "--explain", strconv.Itoa(reasonK))
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var all [][]doorReason
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var w wireReasons
		if err := json.Unmarshal([]byte(line), &w); err != nil {
			t.Fatal(err)
		}
		all = append(all, w.door(t, fmt.Sprintf("JSON line %d", i)))
	}
	return all
}

// scoreCSVReasons writes the applications as DuckDB and Spark write CSV
// (booleans true/false) and reads the reason columns of the scored file.
func scoreCSVReasons(t *testing.T, dir string, objects [][]byte) [][]doorReason {
	t.Helper()
	in, out := filepath.Join(dir, "reasons.csv"), filepath.Join(dir, "reasons-scored.csv")
	writeObjectsCSV(t, in, objects)
	runScoreArgs(t, in, "-o", out, "--explain", strconv.Itoa(reasonK))
	recs := testkit.ReadCSV(t, out)
	at := len(recs[0]) - 1 - 2*reasonK // the reason columns sit before "error"
	if recs[0][at] != "reason_1" {
		t.Fatalf("header %v", recs[0])
	}
	var all [][]doorReason
	for _, rec := range recs[1:] {
		var rs []doorReason
		for j := range reasonK {
			if rec[at+2*j] == "" {
				continue
			}
			c, err := strconv.ParseFloat(rec[at+2*j+1], 64)
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, doorReason{rec[at+2*j], math.Float64bits(c)})
		}
		all = append(all, rs)
	}
	return all
}

func httpReasons(t *testing.T, addr string, objects [][]byte) [][]doorReason {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("http://%s/predict?explain=%d", addr, reasonK), "application/json", bytes.NewReader(array(objects)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answers []wireReasons
	if err := json.NewDecoder(resp.Body).Decode(&answers); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %v", resp.StatusCode, err)
	}
	var all [][]doorReason
	for i, a := range answers {
		all = append(all, a.door(t, fmt.Sprintf("HTTP item %d", i)))
	}
	return all
}

func syncReasons(t *testing.T, nc *nats.Conn, objects [][]byte) [][]doorReason {
	t.Helper()
	msg := nats.NewMsg("loans.score.sync")
	msg.Data = array(objects)
	msg.Header.Set("Explain", strconv.Itoa(reasonK))
	resp, err := nc.RequestMsg(msg, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var answers []wireReasons
	if err := json.Unmarshal(resp.Data, &answers); err != nil {
		t.Fatalf("sync answer: %v: %.200s", err, resp.Data)
	}
	var all [][]doorReason
	for i, a := range answers {
		all = append(all, a.door(t, fmt.Sprintf("sync item %d", i)))
	}
	return all
}

// asyncReasons publishes each application with an Explain header and
// reads its result from LOANS_SCORED.
func asyncReasons(t *testing.T, nc *nats.Conn, objects [][]byte) [][]doorReason {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := func(i int) string { return fmt.Sprintf("reasons-%d", i) }
	for i, o := range objects {
		m := &nats.Msg{Subject: "loans.score", Data: o, Header: nats.Header{}}
		m.Header.Set(jetstream.MsgIDHeader, id(i))
		m.Header.Set("Explain", strconv.Itoa(reasonK))
		if _, err := js.PublishMsgAsync(m); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publishes not acknowledged")
	}
	stream, err := js.Stream(ctx, "LOANS_SCORED")
	if err != nil {
		t.Fatal(err)
	}
	all := make([][]doorReason, len(objects))
	for i := range objects {
		var stored *jetstream.RawStreamMsg
		testkit.Eventually(t, time.Minute, "the result of "+id(i), func() bool {
			stored, err = stream.GetLastMsgForSubject(ctx, sink.IDSubject("loans.scored", id(i)))
			return err == nil
		})
		var w wireReasons
		if err := json.Unmarshal(stored.Data, &w); err != nil {
			t.Fatalf("async result %s: %v: %s", id(i), err, stored.Data)
		}
		all[i] = w.door(t, "async "+id(i))
	}
	return all
}
