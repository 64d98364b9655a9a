package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/nats-io/nats.go"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
)

// tally builds what ReadStream returns for results with the given ids and
// probabilities, each stored once, scored by model m.
func tally(ids []string, probas []float64) testkit.Tally {
	t := testkit.Tally{Count: map[string]int{}, Results: map[string]testkit.Result{}, Headers: map[string]nats.Header{}}
	for i, id := range ids {
		p := probas[i]
		t.Count[id]++
		t.Total++
		t.Results[id] = testkit.Result{ID: id, Proba: &p}
		t.Headers[id] = nats.Header{"Model": []string{"m@1"}}
	}
	return t
}

func TestCheckResults(t *testing.T) {
	good := func() testkit.Tally { return tally([]string{"p-0", "p-1", "p-2"}, []float64{0.1, 0.2, 0.3}) }
	if got, err := checkResults("p", 3, good()); err != nil || len(got) != 3 || got["p-1"] != (result{0.2, "m@1"}) {
		t.Fatalf("checkResults(good) = %v, %v", got, err)
	}
	for _, c := range []struct {
		name    string
		breakIt func(*testkit.Tally)
		want    string
	}{
		{"missing", func(t *testkit.Tally) { delete(t.Count, "p-2"); delete(t.Results, "p-2"); t.Total-- }, "ids missing"},
		{"duplicate", func(t *testkit.Tally) { t.Count["p-1"]++; t.Total++ }, "more than once"},
		{"extra", func(t *testkit.Tally) {
			p := 0.5
			t.Count["q-9"]++
			t.Total++
			t.Results["q-9"] = testkit.Result{ID: "q-9", Proba: &p}
		}, "not published by this run"},
		{"error result", func(t *testkit.Tally) {
			r := t.Results["p-0"]
			r.Proba = nil
			r.Error = &struct {
				Code   string            `json:"code"`
				Fields map[string]string `json:"fields"`
			}{Code: "invalid_input"}
			t.Results["p-0"] = r
		}, "not scored"},
		{"no model header", func(t *testkit.Tally) { t.Headers["p-0"] = nats.Header{} }, "no Model header"},
		{"probability out of range", func(t *testkit.Tally) {
			p := 1.5
			t.Results["p-0"] = testkit.Result{ID: "p-0", Proba: &p}
		}, "not scored"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tl := good()
			c.breakIt(&tl)
			_, err := checkResults("p", 3, tl)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("checkResults = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestScoredCount(t *testing.T) {
	page := "# HELP scorer_messages_total Async messages handled, by outcome.\n" +
		"# TYPE scorer_messages_total counter\n" +
		"scorer_messages_total{outcome=\"invalid\"} 3\n" +
		"scorer_messages_total{outcome=\"scored\"} 1532\n"
	if got, err := scoredCount(page); err != nil || got != 1532 {
		t.Errorf("scoredCount = %v, %v; want 1532", got, err)
	}
	if got, err := scoredCount("scorer_up 1\n"); err != nil || got != 0 {
		t.Errorf("scoredCount(no series) = %v, %v; want 0", got, err)
	}
	if _, err := scoredCount(scoredSeries + " x\n"); err == nil {
		t.Error("scoredCount(bad value) = nil error")
	}
}

func TestCheckWorkers(t *testing.T) {
	if err := checkWorkers([]float64{1400, 1600}, 3000); err != nil {
		t.Errorf("checkWorkers(1400+1600 of 3000) = %v", err)
	}
	for _, c := range []struct {
		counts []float64
		n      int
	}{
		{[]float64{3000, 0}, 3000}, // one worker did all
		{[]float64{1500, 1501}, 3000},
		{[]float64{1500, 1499}, 3000},
	} {
		if err := checkWorkers(c.counts, c.n); err == nil {
			t.Errorf("checkWorkers(%v, %d) = nil, want an error", c.counts, c.n)
		}
	}
}

// TestCheckParquet writes real Parquet files with arrow-go in the sink's
// schema and checks what checkParquet accepts and refuses.
func TestCheckParquet(t *testing.T) {
	want := map[string]result{"a": {0.25, "m@1"}, "b": {0.5, "m@1"}, "c": {0.75, "m@1"}}
	at := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	write := func(dir, name string, ids []string, probas []float64, errCode any) {
		var id, pr, mo, sa, ec []any
		for i := range ids {
			id = append(id, ids[i])
			pr = append(pr, probas[i])
			mo = append(mo, "m@1")
			sa = append(sa, at)
			ec = append(ec, errCode)
		}
		arrowtest.Write(t, filepath.Join(dir, name), 1000,
			arrowtest.Column{Name: "id", Type: arrow.BinaryTypes.String, Values: id},
			arrowtest.Column{Name: "default_proba", Type: arrow.PrimitiveTypes.Float64, Values: pr},
			arrowtest.Column{Name: "model", Type: arrow.BinaryTypes.String, Values: mo},
			arrowtest.Column{Name: "scored_at", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Values: sa},
			arrowtest.Column{Name: "error_code", Type: arrow.BinaryTypes.String, Nullable: true, Values: ec},
		)
	}
	good := t.TempDir()
	write(good, "scores-1-2.parquet", []string{"a", "b"}, []float64{0.25, 0.5}, nil)
	write(good, "scores-3-3.parquet", []string{"c"}, []float64{0.75}, nil)
	if files, rows, err := checkParquet(good, want); err != nil || files != 2 || rows != 3 {
		t.Fatalf("checkParquet(good) = %d files, %d rows, %v", files, rows, err)
	}

	for _, c := range []struct {
		name  string
		files func(dir string)
		want  string
	}{
		{"missing row", func(d string) { write(d, "scores-1-2.parquet", []string{"a", "b"}, []float64{0.25, 0.5}, nil) }, "in no file"},
		{"duplicate row", func(d string) {
			write(d, "scores-1-3.parquet", []string{"a", "b", "c"}, []float64{0.25, 0.5, 0.75}, nil)
			write(d, "scores-4-4.parquet", []string{"c"}, []float64{0.75}, nil)
		}, "2 times"},
		{"other probability", func(d string) {
			write(d, "scores-1-3.parquet", []string{"a", "b", "c"}, []float64{0.25, 0.5, 0.7500000001}, nil)
		}, "default_proba"},
		{"error code", func(d string) {
			write(d, "scores-1-3.parquet", []string{"a", "b", "c"}, []float64{0.25, 0.5, 0.75}, "timeout")
		}, "error_code"},
		{"unknown id", func(d string) {
			write(d, "scores-1-4.parquet", []string{"a", "b", "c", "d"}, []float64{0.25, 0.5, 0.75, 0.1}, nil)
		}, "not one of the results"},
		{"no files", func(string) {}, "no scores-"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.files(dir)
			_, _, err := checkParquet(dir, want)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("checkParquet = %v, want an error containing %q", err, c.want)
			}
		})
	}
}
