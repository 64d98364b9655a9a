package bulk

import (
	"bufio"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/loan"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// expectedNotes are the notes (no reasons asked) a Ranker gives as
// decoded by the JSON path, one batch of them all.
func expectedNotes(t *testing.T, m *model.Loaded, as []loan.Application) []reason.Note {
	t.Helper()
	b := jsonBatch(t, m, as)
	r, err := reason.NewRanker(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	notes := make([]reason.Note, len(as))
	if err := r.Annotate(b, make([]int, len(as)), notes); err != nil {
		t.Fatal(err)
	}
	return notes
}

// pipelineInputs writes as as Parquet (row groups of 400 rows, row bad's
// City null), CSV (row bad's GrAppv "abc") and JSON lines (line bad not an
// application): in each, row bad is the one that cannot be scored.
func pipelineInputs(t *testing.T, dir string, as []loan.Application, bad int) (pq, csvIn, jsonIn string) {
	t.Helper()
	pq, csvIn, jsonIn = filepath.Join(dir, "in.parquet"), filepath.Join(dir, "in.csv"), filepath.Join(dir, "in.jsonl")
	arrowtest.Write(t, pq, 400, inputColumns(as, bad)...)
	writeAppsCSV(t, csvIn, as, strconv.FormatBool)
	raw, err := os.ReadFile(csvIn)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	recs[bad+1][slices.Index(recs[0], "GrAppv")] = "abc"
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	if err := w.WriteAll(recs); err != nil {
		t.Fatal(err)
	}
	var lines []byte
	for i := range as {
		if i == bad {
			lines = append(lines, `{"GrAppv":"abc"}`...)
		} else {
			lines = as[i].AppendJSON(lines)
		}
		lines = append(lines, '\n')
	}
	for path, b := range map[string]string{csvIn: sb.String(), jsonIn: string(lines)} {
		if err := os.WriteFile(path, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return pq, csvIn, jsonIn
}

// TestScoreExplainOnTheParallelPipeline: reasons and unseen counts come
// through the parallel pipeline whole and in input order, whatever the
// units (Parquet row groups cut into units of 300 rows, text blocks of
// 16 KiB, 4 workers, batches of 64): every format's reasons equal the
// reference's for the same rows decoded by the JSON path, the row that
// cannot be scored has none (and its error), and Stats.Unseen, with or
// without reasons, counts exactly the reference's unseen values of the
// scored rows. Banks the model never saw (every 7th row) and lower-case
// states (every 11th) make the unseen values.
func TestScoreExplainOnTheParallelPipeline(t *testing.T) {
	m := demoModel(t)
	codes, err := reason.LoadCodes(filepath.Join(testkit.RepoRoot(t), "configs", "reason-codes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const n, k, bad = 3000, 4, 1234
	as := apps(n)
	for i := range as {
		if i%7 == 0 {
			as[i].Bank = "NO SUCH BANK " + strconv.Itoa(i)
		}
		if i%11 == 0 {
			as[i].State = strings.ToLower(as[i].State)
		}
	}
	want := expectedReasons(t, m, codes, as, k)
	want[bad] = nil
	// The reference counts: the unseen features the same ranker names for
	// each scored row decoded by the JSON path.
	wantUnseen := map[string]int64{}
	for i, note := range expectedNotes(t, m, as) {
		if i != bad {
			for _, f := range note.Unseen {
				wantUnseen[f]++
			}
		}
	}
	if wantUnseen["Bank"] < n/7 || wantUnseen["State"] < n/11 {
		t.Fatalf("reference unseen counts %v: want at least the altered banks and states", wantUnseen)
	}
	dir := t.TempDir()
	pq, csvIn, jsonIn := pipelineInputs(t, dir, as, bad)
	cols := ReasonColumns(k)
	checkUnseen := func(t *testing.T, st Stats) {
		t.Helper()
		if st.Rows != n || st.Errors != 1 || len(st.Unseen) != 9 {
			t.Fatalf("stats %+v: want %d rows, 1 error, 9 unseen counts", st, n)
		}
		for _, u := range st.Unseen {
			if u.Rows != wantUnseen[u.Feature] {
				t.Errorf("unseen %s: %d rows, want %d", u.Feature, u.Rows, wantUnseen[u.Feature])
			}
		}
	}
	check := func(t *testing.T, i int, names []string, cs []float64, problem string) {
		t.Helper()
		if (i == bad) != (problem != "") {
			t.Fatalf("row %d: error %q", i, problem)
		}
		if len(names) != len(want[i]) {
			t.Fatalf("row %d: reasons %v %v, want %v", i, names, cs, want[i])
		}
		for j := range names {
			if names[j] != want[i][j].name || cs[j] != want[i][j].c {
				t.Fatalf("row %d reason %d: %s %v, want %+v", i, j+1, names[j], cs[j], want[i][j])
			}
		}
	}
	for _, explain := range []int{k, 0} {
		o := Options{Model: m, Explain: explain, Codes: codes, Batch: 64, Workers: 4, RowGroupRows: 300, BlockBytes: 16 << 10}
		for _, in := range []string{pq, csvIn} {
			out := filepath.Join(dir, "out-"+filepath.Base(in)+".parquet")
			st, err := ScoreFile(context.Background(), in, out, o)
			if err != nil {
				t.Fatal(err)
			}
			checkUnseen(t, st)
			got := arrowtest.Read(t, out)
			if len(got.RowGroups) < n/300 {
				t.Fatalf("%s: row groups %v, want units of 300 rows", in, got.RowGroups)
			}
			if _, ok := got.Cols["reason_1"]; ok != (explain > 0) {
				t.Fatalf("%s explain %d: reason_1 column %v", in, explain, ok)
			}
			for i := 0; explain > 0 && i < n; i++ {
				var names []string
				var cs []float64
				for j := range k {
					if name := got.Cols[cols[2*j]][i]; name != nil {
						names, cs = append(names, name.(string)), append(cs, got.Cols[cols[2*j+1]][i].(float64))
					} else if got.Cols[cols[2*j+1]][i] != nil {
						t.Fatalf("%s row %d: a contribution without its reason", in, i)
					}
				}
				problem, _ := got.Cols["error"][i].(string)
				check(t, i, names, cs, problem)
			}
		}

		out := filepath.Join(dir, "out.csv")
		st, err := ScoreFile(context.Background(), csvIn, out, o)
		if err != nil {
			t.Fatal(err)
		}
		checkUnseen(t, st)
		recs := testkit.ReadCSV(t, out)
		at := slices.Index(recs[0], "default_proba") + 1
		if got := recs[0][at : len(recs[0])-1]; !slices.Equal(got, cols[:2*explain]) {
			t.Fatalf("CSV columns between the value and the error: %v, want %v", got, cols[:2*explain])
		}
		for i := 0; explain > 0 && i < n; i++ {
			rec := recs[i+1]
			var names []string
			var cs []float64
			for j := range k {
				if rec[at+2*j] != "" {
					c, err := strconv.ParseFloat(rec[at+2*j+1], 64)
					if err != nil {
						t.Fatalf("row %d: %v", i, err)
					}
					names, cs = append(names, rec[at+2*j]), append(cs, c)
				}
			}
			check(t, i, names, cs, rec[len(rec)-1])
		}

		out = filepath.Join(dir, "out.jsonl")
		st, err = ScoreFile(context.Background(), jsonIn, out, o)
		if err != nil {
			t.Fatal(err)
		}
		checkUnseen(t, st)
		jf, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(jf)
		i := 0
		for ; sc.Scan(); i++ {
			var line struct {
				Error   string           `json:"error"`
				Reasons *[]reasonOfALine `json:"reasons"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			if (line.Reasons != nil) != (explain > 0 && i != bad) {
				t.Fatalf("explain %d: line %d: reasons %v", explain, i, line.Reasons)
			}
			var names []string
			var cs []float64
			if line.Reasons != nil {
				for _, rs := range *line.Reasons {
					names, cs = append(names, cmp.Or(rs.Code, rs.Feature)), append(cs, rs.Contribution)
				}
			}
			if explain > 0 {
				check(t, i, names, cs, line.Error)
			}
		}
		jf.Close()
		if i != n {
			t.Fatalf("%d lines, want %d", i, n)
		}
	}
}

// reasonOfALine is a reason as a JSON line (a result body) has it.
type reasonOfALine struct {
	Code         string  `json:"code"`
	Feature      string  `json:"feature"`
	Contribution float64 `json:"contribution"`
}
