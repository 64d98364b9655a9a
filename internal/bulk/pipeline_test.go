package bulk

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/loan"
)

// writeParquetGo writes as with parquet-go (which writes an offset index,
// so a unit may start anywhere in a row group) in row groups of rgRows
// rows and pages of about pageBytes, so units start mid-page.
func writeParquetGo(t *testing.T, path string, as []loan.Application, rgRows int64, pageBytes int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[loan.Application](f, parquet.MaxRowsPerRowGroup(rgRows), parquet.PageBufferSize(pageBytes))
	if _, err := w.Write(as); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// A file of many row groups, scored by several workers in many units,
// comes out in input order and bit-identical to the JSON path, whatever
// the units: row groups with an offset index cut mid-row-group (and
// mid-page), row groups without one read whole into several output row
// groups, several small row groups packed into one.
func TestScoreManyRowGroupsOnManyWorkers(t *testing.T) {
	m := demoModel(t)
	const n = 5000
	as := apps(n)
	want := expected(t, m, as)
	dir := t.TempDir()
	seekable, whole := filepath.Join(dir, "parquet-go.parquet"), filepath.Join(dir, "arrow.parquet")
	writeParquetGo(t, seekable, as, 701, 2048)
	arrowtest.Write(t, whole, 433, inputColumns(as, -1)...)
	for _, in := range []string{seekable, whole} {
		if got := len(arrowtest.Read(t, in).RowGroups); got < 8 {
			t.Fatalf("%s: %d row groups, want many", in, got)
		}
		src, err := os.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := openParquet(src, Options{Model: m}.withDefaults())
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := in == seekable; !slices.Equal(pf.seekable, slices.Repeat([]bool{want}, len(pf.seekable))) {
			t.Fatalf("%s: seekable row groups %v, want all %v", filepath.Base(in), pf.seekable, want)
		}
		for _, tc := range []struct{ workers, batch, rowGroup int }{{4, 100, 300}, {3, 4096, 1000}, {8, 7, 64}, {1, 512, 4000}} {
			out := filepath.Join(dir, "out.parquet")
			var progress []int64
			st, err := ScoreFile(context.Background(), in, out, Options{Model: m, Workers: tc.workers, Batch: tc.batch,
				RowGroupRows: tc.rowGroup, Progress: func(rows int64) { progress = append(progress, rows) }})
			if err != nil {
				t.Fatalf("%s %+v: %v", filepath.Base(in), tc, err)
			}
			if st.Rows != n || st.Errors != 0 {
				t.Errorf("%s %+v: stats %+v", filepath.Base(in), tc, st)
			}
			if !slices.IsSorted(progress) || len(progress) < 2 || progress[len(progress)-1] != n {
				t.Errorf("%s %+v: progress %v, want rising to %d", filepath.Base(in), tc, progress, n)
			}
			got, inTbl := arrowtest.Read(t, out), arrowtest.Read(t, in)
			if slices.Max(got.RowGroups) > tc.rowGroup || len(got.RowGroups) < n/tc.rowGroup {
				t.Errorf("%s %+v: output row groups %v", filepath.Base(in), tc, got.RowGroups)
			}
			for _, f := range inTbl.Fields {
				if !slices.EqualFunc(got.Cols[f.Name], inTbl.Cols[f.Name], func(a, b any) bool { return a == b }) {
					t.Errorf("%s %+v: column %s changed", filepath.Base(in), tc, f.Name)
				}
			}
			for i, v := range got.Cols["default_proba"] {
				if v.(float64) != want[i] {
					t.Fatalf("%s %+v: row %d: default_proba %v, want %v (JSON path)", filepath.Base(in), tc, i, v, want[i])
				}
			}
		}
	}
}

// A row that cannot be scored in a file without an error column stops
// the run naming the first such row in file order, whichever worker meets
// one first, and leaves no output.
func TestScoreReportsTheFirstUnscorableRow(t *testing.T) {
	m := demoModel(t)
	as := apps(3000)
	nan := math.NaN()
	as[2100].GrAppv, as[2900].GrAppv, as[1200].SBAAppv = nan, nan, math.Inf(1)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "out.parquet")
	writeParquetGo(t, in, as, 1000, 4096)
	for range 5 {
		_, err := ScoreFile(context.Background(), in, out, Options{Model: m, Workers: 4, Batch: 64, RowGroupRows: 100})
		if !errors.Is(err, ErrUnscorableRow) || !strings.Contains(err.Error(), "row 1200: SBA_Appv: invalid_number") {
			t.Fatalf("error %v, want row 1200 named", err)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("output exists")
		}
		noTemp(t, dir)
	}
}

// csvWithQuotes writes as as CSV whose City cells hold quoted line ends
// and quotes, and an id column that says the row.
func csvWithQuotes(as []loan.Application) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(append([]string{"id", "note"}, loan.FlatFields()...))
	for i := range as {
		rec := []string{strconv.Itoa(i), "line one\nline \"two\"\r\n" + strings.Repeat("x", i%50)}
		rec = append(rec, flatRecord(&as[i], strconv.FormatBool)...)
		_ = w.Write(rec)
	}
	w.Flush()
	return b.Bytes()
}

// Blocks of whole records never split a quoted CSV field, however small
// the block: every record arrives once, in order, as the whole file's
// parse gives it; JSON lines are cut at line ends only.
func TestBlocksCutAtRecordEnds(t *testing.T) {
	as := apps(300)
	data := csvWithQuotes(as)
	whole, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 7, 100, 4096, 1 << 20} {
		bl := blocks{r: bytes.NewReader(data), size: size, cut: csvCut}
		var got [][]string
		var joined []byte
		lines, n := 0, 0
		for {
			b, line, err := bl.next(nil)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if line != lines {
				t.Fatalf("block %d starts after %d lines, want %d", n, line, lines)
			}
			lines += bytes.Count(b, []byte{'\n'})
			joined = append(joined, b...)
			recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
			if err != nil {
				t.Fatalf("size %d: block %d does not parse on its own: %v\n%q", size, n, err, b)
			}
			got = append(got, recs...)
			n++
		}
		if !bytes.Equal(joined, data) {
			t.Fatalf("size %d: blocks do not add up to the file", size)
		}
		if !slices.EqualFunc(got, whole, slices.Equal[[]string]) {
			t.Fatalf("size %d: %d records from %d blocks, want the file's %d", size, len(got), n, len(whole))
		}
	}
	for _, tc := range []struct {
		in   string
		want int
	}{{"a\nb", 2}, {"a\nb\n", 4}, {"ab", 0}, {"a\"\n\"\n", 5}, {"\"a\n", 0}, {"\"\"\"\n\"\n", 6}} {
		if got := csvCut([]byte(tc.in)); got != tc.want {
			t.Errorf("csvCut(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// CSV and JSON lines go through the same parallel pipeline in blocks:
// quoted line ends cross block boundaries, rows come back in order with
// the JSON path's scores, and the CSV's lines are numbered from the file's
// start in a parse error.
func TestScoreTextInManyBlocks(t *testing.T) {
	m := demoModel(t)
	as := apps(2000)
	want := expected(t, m, as)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.csv")
	if err := os.WriteFile(in, csvWithQuotes(as), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{Model: m, Workers: 4, Batch: 50, BlockBytes: 3000}
	st, err := ScoreFile(context.Background(), in, out, o)
	if err != nil || st.Rows != int64(len(as)) || st.Errors != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	recs := testkit.ReadCSV(t, out)
	if len(recs) != len(as)+1 {
		t.Fatalf("%d records", len(recs))
	}
	for i, rec := range recs[1:] {
		p, _ := strconv.ParseFloat(rec[len(rec)-2], 64)
		if rec[0] != strconv.Itoa(i) || !strings.HasPrefix(rec[1], "line one\nline \"two\"") || p != want[i] {
			t.Fatalf("row %d: %q, want default_proba %v", i, rec, want[i])
		}
	}

	jl, jout := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	var lines []byte
	for i := range as {
		lines = append(as[i].AppendJSON(lines), "\n \r\n"[:1+i%3]...)
	}
	if err := os.WriteFile(jl, lines, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ScoreFile(context.Background(), jl, jout, o); err != nil {
		t.Fatal(err)
	}
	scored, err := os.ReadFile(jout)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(scored), "\n"), "\n")
	if len(got) != len(as) {
		t.Fatalf("%d lines, want %d", len(got), len(as))
	}
	for i, line := range got {
		suffix := `"default_proba":` + strconv.FormatFloat(want[i], 'g', -1, 64) + "}"
		if !strings.HasPrefix(line, string(as[i].AppendJSON(nil)[:20])) || !strings.HasSuffix(line, suffix) {
			t.Fatalf("line %d: %s, want %s", i, line, suffix)
		}
	}

	// An unterminated quote near the end: the error encoding/csv gives
	// for the whole file (the file's line numbers), and no output.
	bad := append(csvWithQuotes(as[:500]), "1,\"open\n2,3\n"...)
	if err := os.WriteFile(in, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	_, wantErr := csv.NewReader(bytes.NewReader(bad)).ReadAll()
	_, err = ScoreFile(context.Background(), in, out, o)
	if wantErr == nil || !errors.Is(err, ErrCorrupt) || !strings.HasSuffix(err.Error(), wantErr.Error()) {
		t.Errorf("error %v, want ErrCorrupt ending in %v", err, wantErr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Error("output exists after a corrupt CSV")
	}
	noTemp(t, dir)
}

// flatRecord is an application's CSV cells in loan.FlatFields order:
// missing numbers empty, booleans as boolCell writes them
// (strconv.FormatBool: true/false, as DuckDB and Spark write them;
// loan.BoolString: the model's True/False).
func flatRecord(a *loan.Application, boolCell func(bool) string) []string {
	var obj map[string]any
	if err := json.Unmarshal(a.AppendJSON(nil), &obj); err != nil {
		panic(err)
	}
	rec := make([]string, 0, len(loan.FlatFields()))
	for _, f := range loan.FlatFields() {
		switch v := obj[f].(type) {
		case nil:
			rec = append(rec, "")
		case bool:
			rec = append(rec, boolCell(v))
		case float64:
			rec = append(rec, strconv.FormatFloat(v, 'g', -1, 64))
		default:
			rec = append(rec, v.(string))
		}
	}
	return rec
}

// TestUnitRowsEndWorkersTogether plans units with unitRows and hands each
// to the worker free first, every row costing the same: the last worker
// ends at most one smallest unit (most/8 rows) after the first, where
// units of one size (the row group) leave up to a whole row group between
// them. 1M rows on two workers: 6 full row groups of 131,072 rows, then
// 106,784, 53,392 and so on down to 16,384 (the floor), and what is left.
func TestUnitRowsEndWorkersTogether(t *testing.T) {
	const most = 131072
	for _, tc := range []struct {
		rows    int64
		workers int
	}{{1_000_000, 2}, {10_000_000, 2}, {3_000_000, 16}, {1_000_000, 8}, {131072*4 + 1, 4}, {5000, 2}, {1, 3}} {
		var planned int64
		var units []int64
		for planned < tc.rows {
			n := min(unitRows(tc.rows-planned, tc.workers, most), tc.rows-planned)
			if n <= 0 {
				t.Fatalf("%d rows, %d workers: unit of %d rows after %d", tc.rows, tc.workers, n, planned)
			}
			units = append(units, n)
			planned += n
		}
		end := make([]int64, tc.workers) // rows each worker has scored
		for _, n := range units {
			first := 0
			for w := range end {
				if end[w] < end[first] {
					first = w
				}
			}
			end[first] += n
		}
		lo, hi := slices.Min(end), slices.Max(end)
		if hi-lo > most/8 && tc.rows >= int64(tc.workers)*most/8 {
			t.Errorf("%d rows, %d workers: workers end %d rows apart (units %v)", tc.rows, tc.workers, hi-lo, units)
		}
		if tc.rows == 1_000_000 && tc.workers == 2 && (units[5] != most || units[6] != 106784 || units[7] != 53392) {
			t.Errorf("1M rows, 2 workers: units %v, want 6 of %d, then 106784, 53392, ...", units, most)
		}
	}
}
