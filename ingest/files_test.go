package ingest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFileFormatOf(t *testing.T) {
	for path, want := range map[string]FileFormat{"a.parquet": Parquet, "a.pq": Parquet, "b.CSV": CSV, "c.jsonl": JSONLines, "d.ndjson": JSONLines, "e.json": JSONLines} {
		if got, err := FileFormatOf(path); got != want || err != nil {
			t.Errorf("FileFormatOf(%s) = %v, %v", path, got, err)
		}
	}
	if _, err := FileFormatOf("x.xlsx"); !errors.Is(err, ErrFileFormat) {
		t.Errorf("xlsx: %v", err)
	}
}

// TestLines: blank lines skipped, spaces and CR/LF around a line dropped,
// a byte-order mark before the first line skipped (and only there), long
// lines whole, line numbers counting blank lines, a limit refusing longer
// lines.
func TestLines(t *testing.T) {
	long := "{" + strings.Repeat(" ", 3<<20) + "}"
	in := "\xEF\xBB\xBF{\"a\":1}\r\n\n  \t\n [1,2] \n\xEF\xBB\xBF{}\n" + long + "\n{\"last\":true}"
	l := NewLines(strings.NewReader(in), 0)
	type got struct {
		line string
		n    int
	}
	var all []got
	for {
		line, n, err := l.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got{string(line), n})
	}
	want := []got{{`{"a":1}`, 1}, {`[1,2]`, 4}, {"\xEF\xBB\xBF{}", 5}, {long, 6}, {`{"last":true}`, 7}}
	if len(all) != len(want) {
		t.Fatalf("%d lines, want %d", len(all), len(want))
	}
	for i := range want {
		if all[i] != want[i] {
			t.Errorf("line %d: %.40q (line %d), want %.40q (line %d)", i, all[i].line, all[i].n, want[i].line, want[i].n)
		}
	}
	if _, _, err := NewLines(strings.NewReader("{}\n"+long+"\n"), 1<<20).Next(); err != nil {
		t.Fatalf("the first line: %v", err)
	}
	lim := NewLines(strings.NewReader("{}\n"+long+"\n"), 1<<20)
	_, _, _ = lim.Next()
	if _, n, err := lim.Next(); !errors.Is(err, ErrLineTooLong) || n != 2 {
		t.Errorf("a line over the limit: line %d, %v", n, err)
	}
	if _, _, err := NewLines(bytes.NewReader(nil), 0).Next(); !errors.Is(err, io.EOF) {
		t.Errorf("empty input: %v", err)
	}
}
