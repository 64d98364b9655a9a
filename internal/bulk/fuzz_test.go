package bulk

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
)

// FuzzScoreParquet feeds arbitrary bytes to `scorer score` as a Parquet
// file: a corrupt input must be an error, never a panic, and must leave
// neither an output nor a temporary file.
func FuzzScoreParquet(f *testing.F) {
	m := demoModel(f)
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed.parquet")
	writeSeed(f, seed)
	data, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add(data[len(data)/3:])
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		in, out := filepath.Join(dir, "in.parquet"), filepath.Join(dir, "out.parquet")
		if err := os.WriteFile(in, b, 0o644); err != nil {
			t.Fatal(err)
		}
		// A corrupt input must not hang either: give up loudly, so the
		// fuzzer keeps the input.
		res := make(chan error, 1)
		go func() {
			_, err := ScoreFile(context.Background(), in, out, Options{Model: m, Batch: 16, Workers: 2})
			res <- err
		}()
		var err error
		select {
		case err = <-res:
		case <-time.After(20 * time.Second):
			t.Fatalf("ScoreFile hangs on this input")
		}
		_, statErr := os.Stat(out)
		if err != nil && statErr == nil {
			t.Fatalf("error %v but the output exists", err)
		}
		if err == nil && statErr != nil {
			t.Fatalf("no error but no output: %v", statErr)
		}
		if tmp, _ := filepath.Glob(filepath.Join(dir, ".scored-*")); len(tmp) > 0 {
			t.Fatalf("temporary files left: %v", tmp)
		}
	})
}

// writeSeed writes a small valid input (the applications as typed columns).
func writeSeed(f *testing.F, path string) {
	f.Helper()
	arrowtest.Write(f, path, 8, inputColumns(apps(20), 3)...)
}
