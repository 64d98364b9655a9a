package faulttest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/sink"
)

// SinkFiles is what the committed files of a Parquet sink's directory hold,
// read with arrow-go: a reader independent of parquet-go, which writes them.
type SinkFiles struct {
	// Count maps an id to the number of rows that carry it.
	Count map[string]int
	// Proba maps an id to the default_proba of its (last) row; nil for an
	// error result.
	Proba map[string]*float64
	// Rows and Files are the totals.
	Rows, Files int
	// Problems lists what the file names get wrong: ranges that overlap or
	// leave sequences out, or that claim another number of rows than the
	// file holds (with nothing deleted from the stream, a file named
	// first..last holds last-first+1 rows).
	Problems []string
}

// CommittedThrough returns the highest stream sequence a committed file of
// dir is named for (0 when there is none).
func CommittedThrough(dir string) (uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", dir, err)
	}
	var last uint64
	for _, e := range entries {
		if _, l, ok := sink.ParseFileName(e.Name()); ok {
			last = max(last, l)
		}
	}
	return last, nil
}

// ReadSinkFiles reads every committed file (scores-*.parquet) of dir.
func ReadSinkFiles(dir string) (SinkFiles, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "scores-*.parquet"))
	if err != nil {
		return SinkFiles{}, fmt.Errorf("list %s: %w", dir, err)
	}
	slices.Sort(paths) // names sort in stream order
	files := SinkFiles{Count: map[string]int{}, Proba: map[string]*float64{}}
	var next uint64 = 1
	for _, p := range paths {
		name := filepath.Base(p)
		first, last, ok := sink.ParseFileName(name)
		if !ok {
			files.Problems = append(files.Problems, name+": not a sink file name")
			continue
		}
		if first != next {
			files.Problems = append(files.Problems, fmt.Sprintf("%s starts at %d, the files before end at %d", name, first, next-1))
		}
		next = last + 1
		tbl, err := arrowtest.ReadErr(p)
		if err != nil {
			return SinkFiles{}, fmt.Errorf("read %s: %w", name, err)
		}
		if uint64(tbl.Rows) != last-first+1 {
			files.Problems = append(files.Problems, fmt.Sprintf("%s holds %d rows", name, tbl.Rows))
		}
		ids, probas := tbl.Cols["id"], tbl.Cols["default_proba"]
		for i := range tbl.Rows {
			id, _ := ids[i].(string)
			files.Count[id]++
			var proba *float64
			if v, ok := probas[i].(float64); ok {
				proba = &v
			}
			files.Proba[id] = proba
		}
		files.Rows += tbl.Rows
		files.Files++
	}
	return files, nil
}

// SinkDiff is how a sink's files differ from the results stream, id by id.
type SinkDiff struct {
	// Lost: ids the stream holds more often than the files.
	Lost []string
	// Duplicated: ids the files hold more often than the stream.
	Duplicated []string
	// Extra: ids in the files the stream does not hold.
	Extra []string
	// Changed: ids whose default_proba differs between file and stream.
	Changed []string
}

// OK reports whether the files hold exactly the stream's results.
func (d SinkDiff) OK() bool {
	return len(d.Lost)+len(d.Duplicated)+len(d.Extra)+len(d.Changed) == 0
}

// String summarises the difference with up to five ids of each kind.
func (d SinkDiff) String() string {
	var b strings.Builder
	for _, part := range []struct {
		what string
		ids  []string
	}{{"lost", d.Lost}, {"duplicated", d.Duplicated}, {"extra", d.Extra}, {"changed", d.Changed}} {
		fmt.Fprintf(&b, "%d %s %v; ", len(part.ids), part.what, part.ids[:min(len(part.ids), 5)])
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// CompareSink compares the files with the results stream's tally.
func CompareSink(stream Tally, files SinkFiles) SinkDiff {
	var d SinkDiff
	for id, n := range stream.Count {
		got := files.Count[id]
		switch {
		case got < n:
			d.Lost = append(d.Lost, id)
		case got > n:
			d.Duplicated = append(d.Duplicated, id)
		}
		if got > 0 && !sameProba(stream.Results[id].Proba, files.Proba[id]) {
			d.Changed = append(d.Changed, id)
		}
	}
	for id := range files.Count {
		if _, ok := stream.Count[id]; !ok {
			d.Extra = append(d.Extra, id)
		}
	}
	for _, ids := range [][]string{d.Lost, d.Duplicated, d.Extra, d.Changed} {
		slices.Sort(ids)
	}
	return d
}

func sameProba(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
