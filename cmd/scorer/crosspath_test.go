package main

import (
	"bytes"
	"context"
	"encoding/csv"
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
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/loan"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
	"github.com/loan-scorer/loan-scorer/sink"
)

// crossPathApps is how many generated applications go through every door.
const crossPathApps = 1000

// TestEveryDoorScoresTheSame sends the same generated applications through
// every way in: HTTP /predict, the sync micro service, the async path
// (results read back from LOANS_SCORED), `scorer score` on JSON lines, on a
// CSV file written as DuckDB and Spark write them (booleans as lowercase
// true/false) and on Parquet (`scorer gen`'s typed columns), and `scorer
// model predict` with object lines and with array lines. Every door must
// give every application the same probability, bit for bit: one decoder
// of the input rules (issue 12). Before, the CSV door scored every row
// differently (up to 0.148 apart) and nothing said so.
func TestEveryDoorScoresTheSame(t *testing.T) {
	t.Parallel()
	g := loan.NewGenerator(2026)
	apps := make([]loan.Application, crossPathApps)
	objects := make([][]byte, crossPathApps)
	for i := range apps {
		apps[i] = g.Next()
		objects[i] = apps[i].AppendJSON(nil)
	}
	doors := map[string][]float64{}
	doors["model predict (objects)"] = predictDoor(t, objectLines(objects))
	doors["model predict (arrays)"] = predictDoor(t, arrayLines(t, objects))
	dir := t.TempDir()
	doors["score (JSON lines)"] = scoreJSONLines(t, dir, objects)
	doors["score (CSV, lowercase booleans)"] = scoreCSV(t, dir, objects)
	doors["score (Parquet)"] = scoreParquet(t, dir, apps)

	natsURL, httpAddr := benchScorer(t)
	doors["HTTP"] = httpDoor(t, httpAddr, objects)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	doors["sync"] = syncDoor(t, nc, objects)
	doors["async"] = asyncDoor(t, nc, objects)

	want := doors["HTTP"]
	for name, got := range doors {
		if len(got) != crossPathApps {
			t.Errorf("%s: %d results, want %d", name, len(got), crossPathApps)
			continue
		}
		worst, differ := 0.0, 0
		for i := range got {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				differ++
				worst = max(worst, math.Abs(got[i]-want[i]))
			}
		}
		if differ > 0 {
			t.Errorf("%s: %d of %d applications differ from HTTP (by up to %v)", name, differ, crossPathApps, worst)
		}
	}
}

func objectLines(objects [][]byte) string {
	var b strings.Builder
	for _, o := range objects {
		b.Write(o)
		b.WriteByte('\n')
	}
	return b.String()
}

// arrayLines rewrites each object as the array of its values in the demo
// model's flat feature order, each value as the object holds it.
func arrayLines(t *testing.T, objects [][]byte) string {
	t.Helper()
	mf, err := modelfile.Parse(demo.Name, demo.Bytes(), modelfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, o := range objects {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(o, &fields); err != nil {
			t.Fatal(err)
		}
		b.WriteByte('[')
		for i, f := range mf.Model.Schema().Features {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(fields[f.Name])
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// predictDoor runs `scorer model predict` (the demo model) on lines.
func predictDoor(t *testing.T, lines string) []float64 {
	t.Helper()
	out, err := runModelCmd(t, lines, "predict")
	if err != nil {
		t.Fatal(err)
	}
	var probs []float64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v []float64
		if err := json.Unmarshal([]byte(line), &v); err != nil || len(v) != 1 {
			t.Fatalf("predict output %q: %v", line, err)
		}
		probs = append(probs, v[0])
	}
	return probs
}

// runScore runs `scorer score in -o out` in-process.
func runScore(t *testing.T, in, out string) {
	t.Helper()
	root := newRootCmd()
	var stderr bytes.Buffer
	root.SetOut(&stderr)
	root.SetErr(&stderr)
	root.SetArgs([]string{"score", in, "-o", out})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("scorer score %s: %v\n%s", in, err, stderr.String())
	}
}

func scoreJSONLines(t *testing.T, dir string, objects [][]byte) []float64 {
	t.Helper()
	in, out := filepath.Join(dir, "apps.jsonl"), filepath.Join(dir, "scored.jsonl")
	if err := os.WriteFile(in, []byte(objectLines(objects)), 0o644); err != nil {
		t.Fatal(err)
	}
	runScore(t, in, out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var probs []float64
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r struct {
			P     *float64 `json:"default_proba"`
			Error string   `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.P == nil {
			t.Fatalf("scored line %q: %v %s", line, err, r.Error)
		}
		probs = append(probs, *r.P)
	}
	return probs
}

// scoreCSV writes the applications as DuckDB and Spark write CSV
// (booleans true/false, missing numbers empty) and scores the file.
func scoreCSV(t *testing.T, dir string, objects [][]byte) []float64 {
	t.Helper()
	in, out := filepath.Join(dir, "apps.csv"), filepath.Join(dir, "scored.csv")
	writeObjectsCSV(t, in, objects)
	runScore(t, in, out)
	recs := testkit.ReadCSV(t, out)
	var probs []float64
	for _, rec := range recs[1:] {
		p, err := strconv.ParseFloat(rec[len(rec)-2], 64)
		if err != nil || rec[len(rec)-1] != "" {
			t.Fatalf("scored CSV row %v: %v", rec, err)
		}
		probs = append(probs, p)
	}
	return probs
}

func scoreParquet(t *testing.T, dir string, apps []loan.Application) []float64 {
	t.Helper()
	in, out := filepath.Join(dir, "apps.parquet"), filepath.Join(dir, "scored.parquet")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	w := loan.NewParquet(f, false)
	for i := range apps {
		if err := w.Write(&loan.Labeled{Application: apps[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	runScore(t, in, out)
	var probs []float64
	for _, v := range arrowtest.Read(t, out).Cols["default_proba"] {
		probs = append(probs, v.(float64))
	}
	return probs
}

// array joins objects into one JSON array.
func array(objects [][]byte) []byte {
	return append(append([]byte{'['}, bytes.Join(objects, []byte{','})...), ']')
}

func httpDoor(t *testing.T, addr string, objects [][]byte) []float64 {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/predict", "application/json", bytes.NewReader(array(objects)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answers []struct {
		P *float64 `json:"default_proba"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answers); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %v", resp.StatusCode, err)
	}
	var probs []float64
	for i, a := range answers {
		if a.P == nil {
			t.Fatalf("HTTP item %d has no default_proba", i)
		}
		probs = append(probs, *a.P)
	}
	return probs
}

// result is a sync or async answer.
type result struct {
	ID string   `json:"id"`
	P  *float64 `json:"default_proba"`
}

func syncDoor(t *testing.T, nc *nats.Conn, objects [][]byte) []float64 {
	t.Helper()
	msg, err := nc.Request("loans.score.sync", array(objects), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var answers []result
	if err := json.Unmarshal(msg.Data, &answers); err != nil {
		t.Fatalf("sync answer: %v: %.200s", err, msg.Data)
	}
	var probs []float64
	for i, a := range answers {
		if a.P == nil {
			t.Fatalf("sync item %d has no default_proba: %.200s", i, msg.Data)
		}
		probs = append(probs, *a.P)
	}
	return probs
}

// asyncDoor publishes each application to loans.score with an id and
// reads its result from LOANS_SCORED by its subject.
func asyncDoor(t *testing.T, nc *nats.Conn, objects [][]byte) []float64 {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := func(i int) string { return fmt.Sprintf("crosspath-%d", i) }
	for i, o := range objects {
		m := &nats.Msg{Subject: "loans.score", Data: o, Header: nats.Header{}}
		m.Header.Set(jetstream.MsgIDHeader, id(i))
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
	probs := make([]float64, len(objects))
	for i := range objects {
		var stored *jetstream.RawStreamMsg
		testkit.Eventually(t, time.Minute, "the result of "+id(i), func() bool {
			stored, err = stream.GetLastMsgForSubject(ctx, sink.IDSubject("loans.scored", id(i)))
			return err == nil
		})
		var r result
		if err := json.Unmarshal(stored.Data, &r); err != nil || r.P == nil || r.ID != id(i) {
			t.Fatalf("async result %s: %v: %s", id(i), err, stored.Data)
		}
		probs[i] = *r.P
	}
	return probs
}

// writeObjectsCSV writes JSON application objects as DuckDB and Spark
// write CSV: the loan.FlatFields header, booleans true/false, missing
// numbers empty, numbers as the JSON wrote them.
func writeObjectsCSV(t *testing.T, in string, objects [][]byte) {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(loan.FlatFields())
	for _, o := range objects {
		var fields map[string]any
		dec := json.NewDecoder(bytes.NewReader(o))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil {
			t.Fatal(err)
		}
		var rec []string
		for _, name := range loan.FlatFields() {
			switch v := fields[name].(type) {
			case nil:
				rec = append(rec, "")
			case bool:
				rec = append(rec, strconv.FormatBool(v))
			case json.Number:
				rec = append(rec, v.String())
			case string:
				rec = append(rec, v)
			default:
				t.Fatalf("field %s: %T", name, v)
			}
		}
		_ = w.Write(rec)
	}
	w.Flush()
	if err := os.WriteFile(in, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
