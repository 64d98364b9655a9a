package testkit

import (
	"encoding/csv"
	"os"
	"testing"
)

// ReadCSV reads every record of the CSV file at path with encoding/csv
// (the independent reader of the CSV outputs), header included; it fails
// the test on any error.
func ReadCSV(t testing.TB, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return recs
}
