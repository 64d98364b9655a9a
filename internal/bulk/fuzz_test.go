package bulk

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/ingest"
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

// FuzzCSVBlocks cuts arbitrary bytes into blocks of whole CSV records: the
// blocks add up to the input, each but the last ends a record, and where
// encoding/csv reads the whole input, it reads the same records from the
// blocks one by one.
func FuzzCSVBlocks(f *testing.F) {
	f.Add([]byte("a,b\n\"x\ny\",2\n3,\"\"\"\"\n"), 3)
	f.Add(csvWithQuotes(apps(5)), 17)
	f.Add([]byte("\"open\n1,2\n"), 1)
	f.Fuzz(func(t *testing.T, data []byte, size int) {
		size = 1 + abs16(size)
		whole, wholeErr := csv.NewReader(bytes.NewReader(data)).ReadAll()
		bl := blocks{r: bytes.NewReader(data), size: size, cut: csvCut}
		var joined []byte
		var recs [][]string
		var blockErr error
		for {
			b, _, err := bl.next(nil)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			joined = append(joined, b...)
			if len(joined) < len(data) && b[len(b)-1] != '\n' {
				t.Fatalf("block %q ends mid-line", b)
			}
			r, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
			if err != nil && blockErr == nil {
				blockErr = err
			}
			recs = append(recs, r...)
		}
		if !bytes.Equal(joined, data) {
			t.Fatalf("blocks add up to %q, want %q", joined, data)
		}
		if wholeErr == nil && (blockErr != nil || !slices.EqualFunc(recs, whole, slices.Equal[[]string])) {
			t.Fatalf("blocks read %q (%v), the whole input %q", recs, blockErr, whole)
		}
	})
}

// FuzzJSONLineBlocks cuts arbitrary bytes into blocks at line ends: the
// lines ingest.EachLine finds in them are those ingest.Lines reads from
// the whole input.
func FuzzJSONLineBlocks(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n\n  {}\r\n[1]"), 4)
	f.Add([]byte("x"), 1)
	f.Fuzz(func(t *testing.T, data []byte, size int) {
		if bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}) {
			data = data[3:] // Lines skips it; bulk skips it before cutting
		}
		var want [][]byte
		lines := ingest.NewLines(bytes.NewReader(data), 0)
		for {
			line, _, err := lines.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, slices.Clone(line))
		}
		bl := blocks{r: bytes.NewReader(data), size: 1 + abs16(size), cut: lineCut}
		var got [][]byte
		for {
			b, _, err := bl.next(nil)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			_ = ingest.EachLine(b, func(line []byte, _ int) error {
				got = append(got, slices.Clone(line))
				return nil
			})
		}
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("blocks give lines %q, Lines %q", got, want)
		}
	})
}

// abs16 maps a fuzzed int to a small block size.
func abs16(n int) int {
	n %= 1 << 16
	if n < 0 {
		n = -n
	}
	return n
}

// FuzzCSVRecords reads arbitrary bytes as one block of CSV records: where
// encoding/csv reads the whole input, csvRecords reads the same records
// (split at commas without a quote in the block, encoding/csv with one),
// and each record's bytes followed by an appended field, as the output
// writes them, read as the record and that field.
func FuzzCSVRecords(f *testing.F) {
	f.Add([]byte("a,b\r\n\n,c\r\r\nx\r"))
	f.Add([]byte("a,\"b\nc\",d\n\n\"\"\r\n"))
	f.Add([]byte("\"a\"\"b\r\nc\",d\r\n\"x\"y,z\n"))
	f.Add(csvWithQuotes(apps(3)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord = -1
		want, wantErr := r.ReadAll()
		var c csvRecords
		c.reset(data, 0)
		if wantErr != nil { // refused here too, with encoding/csv's error
			var err error
			for fields := []string(nil); err == nil; {
				fields, _, err = c.next(fields)
			}
			if errors.Is(err, io.EOF) || !strings.HasSuffix(err.Error(), wantErr.Error()) {
				t.Fatalf("error %v, encoding/csv %v", err, wantErr)
			}
			return
		}
		var err error
		var fields []string
		var got [][]string
		for {
			start := len(fields)
			var raw []byte
			fields, raw, err = c.next(fields)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("record %d: %v", len(got), err)
			}
			rec := slices.Clone(fields[start:])
			got = append(got, rec)
			line := append(slices.Clone(raw), ",0.5\n"...)
			again, err := csv.NewReader(bytes.NewReader(line)).Read()
			if err != nil || !slices.Equal(again, append(slices.Clone(rec), "0.5")) {
				t.Fatalf("record %d %q: its output %q reads %q (%v)", len(got)-1, rec, line, again, err)
			}
		}
		if !slices.EqualFunc(got, want, slices.Equal[[]string]) {
			t.Fatalf("records %q, encoding/csv %q", got, want)
		}
	})
}
