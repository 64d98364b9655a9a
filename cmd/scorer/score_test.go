package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/model/demo"
)

// TestScoreMatchesModelPredict runs the real binary: `scorer gen` writes
// the same applications as Parquet and JSON lines, `scorer score` scores
// the Parquet file, and every default_proba (read back with arrow-go)
// must equal what `scorer model predict` says for the same line.
func TestScoreMatchesModelPredict(t *testing.T) {
	t.Parallel()
	bin := scorerBinary(t)
	dir := t.TempDir()
	mpath := filepath.Join(dir, "loan-demo.json.gz")
	if err := os.WriteFile(mpath, demo.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(stdin []byte, args ...string) (stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("scorer %v: %v\n%s", args, err, e.String())
		}
		return o.String(), e.String()
	}
	in, jl, out := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.parquet")
	run(nil, "gen", "--n", "3000", "--seed", "9", "-o", in)
	run(nil, "gen", "--n", "3000", "--seed", "9", "-o", jl)
	stdout, stderr := run(nil, "score", in, "-o", out, "--model", mpath, "--workers", "3", "--batch", "100")
	if stdout != "" || !strings.HasPrefix(stderr, "scored 3000 rows (0 errors)") || strings.Count(stderr, "\n") != 2 ||
		!strings.Contains(stderr, "\nunseen values ") || strings.Contains(stderr, "warning") {
		t.Errorf("not a terminal: want only the summary and unseen lines on stderr; stdout %q stderr %q", stdout, stderr)
	}
	lines, err := os.ReadFile(jl)
	if err != nil {
		t.Fatal(err)
	}
	preds, _ := run(lines, "model", "predict", mpath)
	got := arrowtest.Read(t, out)
	if got.Rows != 3000 {
		t.Fatalf("%d rows, want 3000", got.Rows)
	}
	sc := bufio.NewScanner(strings.NewReader(preds))
	for i := 0; sc.Scan(); i++ {
		var p []float64
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil || len(p) != 1 {
			t.Fatalf("predict line %d: %q %v", i, sc.Text(), err)
		}
		if got.Cols["default_proba"][i] != p[0] {
			t.Fatalf("row %d: score wrote %v, model predict says %v", i, got.Cols["default_proba"][i], p[0])
		}
	}
}

func TestScoreMissingColumnNamesIt(t *testing.T) {
	t.Parallel()
	bin := scorerBinary(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.csv")
	if err := os.WriteFile(in, []byte("Term,NoEmp\n84,5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "score", in, "-o", out)
	msg, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(msg), `column "City": missing`) {
		t.Errorf("exit %v, output %s", err, msg)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output written despite the error")
	}
}

// TestScoreWarnsOfUnseenValues runs the real binary on a CSV with
// lower-case true/false booleans, as DuckDB and Spark write them: mapped
// to the model's True/False (the default --bool-as) no feature is warned
// of; mapped to "false"/"true", which the model never saw (the decoder
// before issue 12), is_new and same_state are, with their share.
func TestScoreWarnsOfUnseenValues(t *testing.T) {
	t.Parallel()
	bin := scorerBinary(t)
	dir := t.TempDir()
	jl, in := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "in.csv")
	if out, err := exec.Command(bin, "gen", "--n", "200", "--seed", "4", "-o", jl).CombinedOutput(); err != nil {
		t.Fatalf("gen: %v %s", err, out)
	}
	lines, err := os.ReadFile(jl)
	if err != nil {
		t.Fatal(err)
	}
	var header []string
	var sb strings.Builder
	for i, line := range bytes.Split(bytes.TrimSpace(lines), []byte("\n")) {
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			for k := range obj {
				header = append(header, k)
			}
			sb.WriteString(strings.Join(header, ",") + "\n")
		}
		cells := make([]string, len(header))
		for j, k := range header {
			switch v := obj[k].(type) {
			case nil:
			case bool:
				cells[j] = strconv.FormatBool(v) // lower case
			case json.Number:
				cells[j] = v.String()
			default:
				cells[j] = `"` + strings.ReplaceAll(v.(string), `"`, `""`) + `"`
			}
		}
		sb.WriteString(strings.Join(cells, ",") + "\n")
	}
	if !strings.Contains(sb.String(), "true") || !strings.Contains(sb.String(), "false") {
		t.Fatal("the CSV has no lower-case booleans: the test would check nothing")
	}
	if err := os.WriteFile(in, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	score := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"score", in, "-o", filepath.Join(dir, "out.csv")}, args...)...)
		var e bytes.Buffer
		cmd.Stderr = &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("score %v: %v\n%s", args, err, e.String())
		}
		return e.String()
	}
	if got := score(); strings.Contains(got, "warning") || !strings.Contains(got, "is_new 0.00%") {
		t.Errorf("default --bool-as: %s", got)
	}
	got := score("--bool-as", "false,true")
	for _, f := range []string{"is_new", "same_state"} {
		if !strings.Contains(got, "warning: "+f+": 200 of 200 scored rows (100.00%") {
			t.Errorf("--bool-as false,true: no warning for %s in\n%s", f, got)
		}
	}
	if strings.Count(got, "warning: ") != 2 {
		t.Errorf("--bool-as false,true: want warnings for the two booleans only:\n%s", got)
	}
}
