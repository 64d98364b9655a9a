package bulk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/loan"
)

// wideColumns are the applications' columns plus extra double columns the
// model does not read.
func wideColumns(as []loan.Application, extra int) []arrowtest.Column {
	cols := inputColumns(as, -1)
	for j := range extra {
		c := arrowtest.Column{Name: "x" + strconv.Itoa(j), Type: arrow.PrimitiveTypes.Float64, Values: make([]any, len(as))}
		for i := range as {
			c.Values[i] = float64(i*j%97) / 7
		}
		cols = append(cols, c)
	}
	return cols
}

// TestScoreWideFileHelper is TestScoreWideFileInBoundedMemory's child
// process: it scores $BULK_WIDE_IN into $BULK_WIDE_OUT and prints its own
// peak RSS (the VmHWM line of /proc/self/status; the kernel's rusage
// would carry the parent's peak over the exec).
func TestScoreWideFileHelper(t *testing.T) {
	in := os.Getenv("BULK_WIDE_IN")
	if in == "" {
		t.Skip("the child process of TestScoreWideFileInBoundedMemory")
	}
	if _, err := ScoreFile(context.Background(), in, os.Getenv("BULK_WIDE_OUT"), Options{Model: demoModel(t), Workers: 2}); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			fmt.Println(line)
		}
	}
}

// The wide file: 5,018 columns (19 of them the applications', the
// rest doubles the model ignores) scored in a child process whose peak RSS
// the kernel reports. Chunks used to hold 4,096 rows of every column
// whatever the file held (a 0.9 MB file of 5,018 columns took 691 MB);
// now rows per chunk, pages and row groups shrink with the column count.
// Every row is still scored as the JSON path scores it.
func TestScoreWideFileInBoundedMemory(t *testing.T) {
	const columns = 5018
	rows := 200
	if v := os.Getenv("BULK_WIDE_ROWS"); v != "" { // docs/OPERATIONS.md's other sizes
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("BULK_WIDE_ROWS=%q", v)
		}
		rows = n
	}
	m := demoModel(t)
	as := apps(rows)
	want := expected(t, m, as)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "wide.parquet"), filepath.Join(dir, "scored.parquet")
	cols := wideColumns(as, columns-len(inputColumns(as[:1], -1)))
	arrowtest.Write(t, in, rows, cols...)
	st, err := os.Stat(in)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestScoreWideFileHelper$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "BULK_WIDE_IN="+in, "BULK_WIDE_OUT="+out, "GOMAXPROCS=2")
	msg, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, msg)
	}
	_, hwm, ok := strings.Cut(string(msg), "VmHWM:")
	if !ok {
		t.Skipf("the child could not read its VmHWM:\n%s", msg)
	}
	fields := strings.Fields(hwm)
	kb, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || len(fields) < 2 || fields[1] != "kB" {
		t.Fatalf("VmHWM line %q", hwm)
	}
	peak := kb << 10
	t.Logf("%d columns, %d rows, %.2f MB file: peak RSS %.0f MiB", len(cols), rows, float64(st.Size())/1e6, float64(peak)/(1<<20))
	switch {
	case testkit.RaceEnabled:
		t.Log("the race detector's shadow memory inflates RSS: the bound is checked without -race (scripts/test.sh)")
	case peak > 400<<20:
		t.Errorf("peak RSS %d MiB scoring a %d-column file, want under 400 MiB", peak>>20, len(cols))
	}

	got := arrowtest.Read(t, out)
	if got.Rows != rows || len(got.Fields) != len(cols)+1 {
		t.Fatalf("output: %d rows, %d columns; want %d, %d", got.Rows, len(got.Fields), rows, len(cols)+1)
	}
	for i, v := range got.Cols["default_proba"] {
		if v.(float64) != want[i] {
			t.Fatalf("row %d: default_proba %v, want %v (JSON path)", i, v, want[i])
		}
	}
	lastCol := cols[len(cols)-1]
	if last := got.Cols[lastCol.Name]; len(last) != rows || last[rows-1] != lastCol.Values[rows-1] {
		t.Errorf("the last input column %s was not copied through", lastCol.Name)
	}
}

// Inputs wider than MaxColumns are refused before any output exists, with
// an error that says what to do.
func TestScoreRefusesTooWideInputs(t *testing.T) {
	m := demoModel(t)
	as := apps(3)
	dir := t.TempDir()
	pq, csvIn := filepath.Join(dir, "wide.parquet"), filepath.Join(dir, "wide.csv")
	cols := wideColumns(as, 100)
	arrowtest.Write(t, pq, 3, cols...)
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = c.Name
	}
	if err := os.WriteFile(csvIn, []byte(strings.Join(header, ",")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{pq, csvIn} {
		out := filepath.Join(dir, "out"+filepath.Ext(in))
		_, err := ScoreFile(context.Background(), in, out, Options{Model: m, MaxColumns: len(cols) - 1})
		if !errors.Is(err, ErrTooWide) || !strings.Contains(err.Error(), fmt.Sprintf("%d columns", len(cols))) || !strings.Contains(err.Error(), "--max-columns") {
			t.Errorf("%s: %v, want ErrTooWide naming the count and the flag", in, err)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: output exists after the refusal", in)
		}
		noTemp(t, dir)
	}
	if _, err := ScoreFile(context.Background(), pq, filepath.Join(dir, "ok.parquet"), Options{Model: m, MaxColumns: len(cols)}); err != nil {
		t.Errorf("exactly MaxColumns columns: %v", err)
	}

	// Fewer columns, but pages that together exceed MaxPageBytes.
	_, err := ScoreFile(context.Background(), pq, filepath.Join(dir, "pages.parquet"), Options{Model: m, MaxPageBytes: 1000})
	if !errors.Is(err, ErrTooWide) || !strings.Contains(err.Error(), "decompressed pages") {
		t.Errorf("pages over MaxPageBytes: %v, want ErrTooWide about the pages", err)
	}
}
