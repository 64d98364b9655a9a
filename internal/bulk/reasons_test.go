package bulk

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/loan"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// refReason is a reason as the columns show it.
type refReason struct {
	name string
	c    float64
}

// expectedReasons is the reference: each application decoded by the JSON
// path, annotated by a Ranker of its own, k reasons a row.
func expectedReasons(t *testing.T, m *model.Loaded, codes *reason.Codes, as []loan.Application, k int) [][]refReason {
	t.Helper()
	b := jsonBatch(t, m, as)
	r, err := reason.NewRanker(m, codes)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, len(as))
	for i := range want {
		want[i] = k
	}
	notes := make([]reason.Note, len(as))
	if err := r.Annotate(b, want, notes); err != nil {
		t.Fatal(err)
	}
	out := make([][]refReason, len(as))
	for i, n := range notes {
		if n.Err != nil {
			t.Fatal(n.Err)
		}
		for _, rs := range n.Reasons {
			out[i] = append(out[i], refReason{reasonName(&rs), rs.Contribution})
		}
	}
	return out
}

// TestScoreExplainColumns: --explain K adds 2K reason columns to a Parquet
// output (read back with arrow-go), a CSV output and a CSV-to-Parquet
// output, and "reasons" to JSON lines, each equal to the reasons a Ranker
// gives the same rows decoded by the JSON path; codes name the reasons.
func TestScoreExplainColumns(t *testing.T) {
	m := demoModel(t)
	codes, err := reason.LoadCodes(filepath.Join(testkit.RepoRoot(t), "configs", "reason-codes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	as := apps(300)
	const k = 3
	want := expectedReasons(t, m, codes, as, k)
	dir := t.TempDir()
	pqIn, csvIn, jsonIn := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "in.csv"), filepath.Join(dir, "in.jsonl")
	arrowtest.Write(t, pqIn, 100, inputColumns(as, -1)...)
	writeAppsCSV(t, csvIn, as, strconv.FormatBool)
	var lines []byte
	for i := range as {
		lines = append(append(lines, as[i].AppendJSON(nil)...), '\n')
	}
	if err := os.WriteFile(jsonIn, lines, 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{Model: m, Explain: k, Codes: codes, Batch: 64, Workers: 3}
	cols := ReasonColumns(k)
	if len(cols) != 6 || cols[0] != "reason_1" || cols[1] != "reason_1_contribution" || cols[5] != "reason_3_contribution" {
		t.Fatalf("reason columns %v", cols)
	}
	fewer := 0
	for _, w := range want {
		if len(w) < k {
			fewer++
		}
	}
	t.Logf("%d of %d rows have fewer than %d reasons toward default", fewer, len(as), k)

	checkRow := func(t *testing.T, i int, names []any, cs []any) {
		t.Helper()
		for j := range k {
			if j >= len(want[i]) {
				if names[j] != nil || cs[j] != nil {
					t.Fatalf("row %d reason %d: %v %v, want nulls (the row has %d reasons)", i, j+1, names[j], cs[j], len(want[i]))
				}
				continue
			}
			if names[j] != want[i][j].name || cs[j] != want[i][j].c {
				t.Fatalf("row %d reason %d: %v %v, want %+v", i, j+1, names[j], cs[j], want[i][j])
			}
		}
	}
	for _, in := range []string{pqIn, csvIn} {
		out := filepath.Join(dir, "out-"+filepath.Base(in)+".parquet")
		if _, err := ScoreFile(context.Background(), in, out, o); err != nil {
			t.Fatal(err)
		}
		got := arrowtest.Read(t, out)
		for i := range as {
			names, cs := make([]any, k), make([]any, k)
			for j := range k {
				names[j], cs[j] = got.Cols[cols[2*j]][i], got.Cols[cols[2*j+1]][i]
			}
			checkRow(t, i, names, cs)
		}
	}

	csvOut := filepath.Join(dir, "out.csv")
	if _, err := ScoreFile(context.Background(), csvIn, csvOut, o); err != nil {
		t.Fatal(err)
	}
	recs := testkit.ReadCSV(t, csvOut)
	header := recs[0]
	at := len(header) - 1 - 2*k // reason columns sit before "error"
	for j, c := range cols {
		if header[at+j] != c {
			t.Fatalf("CSV header %v, want %v before error", header, cols)
		}
	}
	for i := range as {
		rec := recs[i+1]
		names, cs := make([]any, k), make([]any, k)
		for j := range k {
			if rec[at+2*j] != "" {
				names[j] = rec[at+2*j]
				v, err := strconv.ParseFloat(rec[at+2*j+1], 64)
				if err != nil {
					t.Fatal(err)
				}
				cs[j] = v
			}
		}
		checkRow(t, i, names, cs)
	}

	jsonOut := filepath.Join(dir, "out.jsonl")
	if _, err := ScoreFile(context.Background(), jsonIn, jsonOut, o); err != nil {
		t.Fatal(err)
	}
	jf, err := os.Open(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	defer jf.Close()
	sc := bufio.NewScanner(jf)
	for i := 0; sc.Scan(); i++ {
		var line struct {
			Reasons []struct {
				Code         string  `json:"code"`
				Feature      string  `json:"feature"`
				Contribution float64 `json:"contribution"`
			} `json:"reasons"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		names, cs := make([]any, k), make([]any, k)
		for j, rs := range line.Reasons {
			names[j], cs[j] = rs.Code, rs.Contribution
			if rs.Code == "" {
				names[j] = rs.Feature
			}
		}
		checkRow(t, i, names, cs)
	}
}

// TestScoreExplainRefusals: K above the feature count, or a mapping that
// names a feature the model lacks, stops the run before any output.
func TestScoreExplainRefusals(t *testing.T) {
	m := demoModel(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "out.parquet")
	arrowtest.Write(t, in, 100, inputColumns(apps(10), -1)...)
	bad := &reason.Codes{Codes: []reason.Code{{Code: "X", Text: "x", Features: []string{"Income"}}}}
	for _, o := range []Options{{Model: m, Explain: 19}, {Model: m, Explain: -1}, {Model: m, Explain: 1, Codes: bad}} {
		if _, err := ScoreFile(context.Background(), in, out, o); err == nil {
			t.Errorf("explain %d codes %v: no error", o.Explain, o.Codes)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("output exists after a refusal: %v", err)
		}
	}
}

// TestScoreCountsUnseenLowercaseBooleans is issue 12's case seen through
// the unseen counts: a CSV with lower-case true/false scores them as the
// model's True/False (no unseen value), but with bool_as mapping booleans
// to "false"/"true" (what the decoder did before issue 12) every row's
// is_new and same_state are values the model never saw, and the counts
// say so.
func TestScoreCountsUnseenLowercaseBooleans(t *testing.T) {
	m := demoModel(t)
	as := apps(500)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	writeAppsCSV(t, in, as, strconv.FormatBool)
	count := func(st Stats) map[string]int64 {
		c := map[string]int64{}
		for _, u := range st.Unseen {
			c[u.Feature] = u.Rows
		}
		return c
	}
	st, err := ScoreFile(context.Background(), in, filepath.Join(dir, "mapped.csv"), Options{Model: m})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Unseen) != 9 {
		t.Fatalf("unseen %v: want a count for each of the 9 categorical features", st.Unseen)
	}
	mapped := count(st)
	if mapped["is_new"] != 0 || mapped["same_state"] != 0 {
		t.Errorf("booleans mapped to True/False: unseen %v, want none for is_new and same_state", st.Unseen)
	}
	st, err = ScoreFile(context.Background(), in, filepath.Join(dir, "unmapped.csv"),
		Options{Model: m, Schema: ingest.SchemaConfig{BoolAs: []string{"false", "true"}}})
	if err != nil {
		t.Fatal(err)
	}
	unmapped := count(st)
	if unmapped["is_new"] != 500 || unmapped["same_state"] != 500 {
		t.Errorf("booleans as false/true: unseen %v, want all 500 rows for is_new and same_state", st.Unseen)
	}
	for f, n := range mapped {
		if f != "is_new" && f != "same_state" && unmapped[f] != n {
			t.Errorf("%s: %d unseen mapped, %d unmapped: only the booleans differ", f, n, unmapped[f])
		}
	}
}
