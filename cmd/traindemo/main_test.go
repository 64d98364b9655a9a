package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/model/catboost"
)

// TestRegenerateIsByteIdentical trains a small model twice into two files
// and compares the bytes: the whole chain (generator, trainer, JSON writer,
// gzip header) must be deterministic for go generate to reproduce the
// committed model.
func TestRegenerateIsByteIdentical(t *testing.T) {
	dir := t.TempDir()
	var files [2][]byte
	for i := range files {
		out := filepath.Join(dir, "m"+string(rune('0'+i))+".json.gz")
		var stdout bytes.Buffer
		args := []string{"-o", out, "-rows", "3000", "-holdout", "1000", "-iterations", "20", "-seed", "5"}
		if err := run(args, &stdout); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout.String(), "Bayes (true risk)") {
			t.Errorf("output lacks the metrics:\n%s", stdout.String())
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = data
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatal("two runs with the same flags wrote different files")
	}
	m, err := catboost.Load(files[0])
	if err != nil {
		t.Fatalf("written model does not load: %v", err)
	}
	if got := m.Definition().Info["model_name"]; got != "loan-demo" {
		t.Errorf("model_name %q", got)
	}
}

func TestFlagsRejected(t *testing.T) {
	if err := run([]string{"-rows", "10"}, &bytes.Buffer{}); err == nil {
		t.Error("10 training rows accepted")
	}
}
