package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/loan"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/demo"
)

// runGen runs `scorer gen args...` through the root command and returns
// its stdout.
func runGen(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"gen"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestGenJSONLines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, labels := range []bool{false, true} {
		path := filepath.Join(dir, "loans.ndjson")
		args := []string{"--n", "500", "-o", path, "--seed", "3"}
		if labels {
			args = append(args, "--labels")
		}
		if _, err := runGen(t, args...); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(lines) != 500 {
			t.Fatalf("%d lines, want 500", len(lines))
		}
		var defaults int
		for i, line := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			_, hasLabel := m["default"]
			_, hasProba := m["default_proba_true"]
			if hasLabel != labels || hasProba != labels {
				t.Fatalf("line %d: labels %v but default present %v, default_proba_true present %v", i, labels, hasLabel, hasProba)
			}
			if labels && m["default"] == 1.0 {
				defaults++
			}
			if want := 18 + 2*b2i(labels); len(m) != want {
				t.Fatalf("line %d: %d fields, want %d", i, len(m), want)
			}
		}
		if labels && (defaults < 30 || defaults > 170) {
			t.Errorf("%d defaults in 500 rows, want about one in six", defaults)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestGenStdoutDeterministic(t *testing.T) {
	t.Parallel()
	a, err := runGen(t, "--n", "50", "-o", "-", "--seed", "9")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := runGen(t, "--n", "50", "-o", "-", "--seed", "9")
	c, _ := runGen(t, "--n", "50", "-o", "-", "--seed", "10")
	if a != b {
		t.Error("the same seed wrote different applications")
	}
	if a == c {
		t.Error("different seeds wrote the same applications")
	}
	if n := strings.Count(a, "\n"); n != 50 {
		t.Errorf("%d lines on stdout, want 50", n)
	}
	// The labelled and unlabelled outputs hold the same applications.
	l, _ := runGen(t, "--n", "50", "-o", "-", "--seed", "9", "--labels")
	first := strings.SplitN(l, "\n", 2)[0]
	want := strings.TrimSuffix(strings.SplitN(a, "\n", 2)[0], "}")
	if !strings.HasPrefix(first, want+`,"default":`) {
		t.Errorf("labelled line %s does not extend %s}", first, want)
	}
}

func TestGenParquet(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "loans.parquet")
	if _, err := runGen(t, "--n", "3000", "-o", path, "--labels"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if pf.NumRows() != 3000 {
		t.Errorf("%d rows, want 3000", pf.NumRows())
	}
	cols := map[string]bool{}
	for _, c := range pf.Schema().Columns() {
		cols[c[0]] = true
	}
	for _, name := range append(loan.FlatFields(), "default", "default_proba_true") {
		if !cols[name] {
			t.Errorf("no column %s", name)
		}
	}
}

func TestGenRejects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := [][]string{
		{"--n", "10", "-o", filepath.Join(dir, "loans.csv")},
		{"--n", "-1", "-o", filepath.Join(dir, "loans.jsonl")},
		{"--n", "10"},
		{"--n", "10", "-o", filepath.Join(dir, "missing-dir", "loans.jsonl")},
	}
	for _, args := range cases {
		if _, err := runGen(t, args...); err == nil {
			t.Errorf("gen %v succeeded", args)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("failed runs left files: %v", entries)
	}
}

// TestGenFeedsTheService decodes generated lines with the service's own
// decoder against the embedded demo model's schema and checks the scores
// equal those of the generator's own field mapping: what gen writes is what
// the scorer reads (names, types, booleans as "True"/"False", nulls).
func TestGenFeedsTheService(t *testing.T) {
	t.Parallel()
	out, err := runGen(t, "--n", "300", "-o", "-", "--seed", "4")
	if err != nil {
		t.Fatal(err)
	}
	m, err := catboost.Load(demo.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	s := m.Schema()
	dec := ingest.NewDecoder(s, ingest.DefaultSchemaConfig(), ingest.DefaultLimits())
	viaDecoder := model.NewBatch(s, 300)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if err := dec.DecodeOne(sc.Bytes(), viaDecoder); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
	}
	direct := model.NewBatch(s, 300)
	g := loan.NewGenerator(4)
	floats, cats := make([]float64, 9), make([]string, 9)
	names := append(loan.FloatFields(), loan.CatFields()...)
	for range 300 {
		a := g.Next()
		a.Floats(floats)
		a.Cats(cats)
		fl, ct := direct.AppendRow()
		for k, name := range names {
			f, _ := s.Lookup(name)
			if k < 9 {
				fl[f.Index] = floats[k]
			} else {
				ct[f.Index] = cats[k-9]
			}
		}
	}
	p1, p2 := make([]float64, 300), make([]float64, 300)
	if err := m.Predict(viaDecoder, model.Probability, p1); err != nil {
		t.Fatal(err)
	}
	if err := m.Predict(direct, model.Probability, p2); err != nil {
		t.Fatal(err)
	}
	for i := range p1 {
		if p1[i] != p2[i] {
			t.Fatalf("row %d: decoded %v, direct %v", i, p1[i], p2[i])
		}
	}
}
