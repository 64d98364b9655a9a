package loan

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func TestParquetRoundTrip(t *testing.T) {
	for _, labels := range []bool{false, true} {
		g := NewGenerator(17)
		const n = 10000 // more than one write batch
		var want []Labeled
		var buf bytes.Buffer
		w := NewParquet(&buf, labels)
		for range n {
			l := g.Labeled()
			if !labels {
				l.Default, l.DefaultProbaTrue = 0, 0
			}
			want = append(want, l)
			if err := w.Write(&l); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if f.NumRows() != n {
			t.Fatalf("labels %v: %d rows, want %d", labels, f.NumRows(), n)
		}
		// Typed, nullable where values can be missing.
		wantCols := 18
		if labels {
			wantCols = 20
		}
		fields := f.Schema().Fields()
		if len(fields) != wantCols {
			t.Fatalf("labels %v: %d columns, want %d", labels, len(fields), wantCols)
		}
		for _, fl := range fields {
			optional := fl.Name() == "NoEmp" || fl.Name() == "longitude" || fl.Name() == "latitude"
			if fl.Optional() != optional {
				t.Errorf("column %s optional %v", fl.Name(), fl.Optional())
			}
		}
		got := readBack(t, buf.Bytes(), labels, n)
		var nulls int
		for i := range got {
			if got[i].Latitude == nil {
				nulls++
			}
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("labels %v row %d:\n got %+v\nwant %+v", labels, i, got[i], want[i])
			}
		}
		if nulls == 0 {
			t.Errorf("no null latitude in %d rows", n)
		}
	}
}

// readBack reads a file written by Parquet value by value through the
// row API (parquet-go's generic reader gets nulls wrong in embedded
// structs), so nulls and types are checked as stored.
func readBack(t *testing.T, data []byte, labels bool, n int) []Labeled {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, 20)
	for _, path := range f.Schema().Columns() {
		names = append(names, path[0])
	}
	var got []Labeled
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 256)
		for {
			k, err := rows.ReadRows(buf)
			for _, row := range buf[:k] {
				got = append(got, fromRow(t, names, row))
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
	}
	if len(got) != n {
		t.Fatalf("read %d rows, want %d", len(got), n)
	}
	return got
}

func fromRow(t *testing.T, names []string, row parquet.Row) Labeled {
	var l Labeled
	a := &l.Application
	for _, v := range row {
		name := names[v.Column()]
		if v.IsNull() {
			switch name {
			case "NoEmp", "longitude", "latitude":
				continue
			}
			t.Fatalf("column %s is null", name)
		}
		switch name {
		case "Term":
			a.Term = v.Int32()
		case "NoEmp":
			x := v.Int32()
			a.NoEmp = &x
		case "CreateJob":
			a.CreateJob = v.Int32()
		case "RetainedJob":
			a.RetainedJob = v.Int32()
		case "longitude":
			x := v.Double()
			a.Longitude = &x
		case "latitude":
			x := v.Double()
			a.Latitude = &x
		case "GrAppv":
			a.GrAppv = v.Double()
		case "SBA_Appv":
			a.SBAAppv = v.Double()
		case "is_new":
			a.IsNew = v.Boolean()
		case "FranchiseCode":
			a.FranchiseCode = v.String()
		case "UrbanRural":
			a.UrbanRural = v.Int32()
		case "City":
			a.City = v.String()
		case "State":
			a.State = v.String()
		case "Bank":
			a.Bank = v.String()
		case "BankState":
			a.BankState = v.String()
		case "RevLineCr":
			a.RevLineCr = v.String()
		case "naics_first_two":
			a.NAICS = v.String()
		case "same_state":
			a.SameState = v.Boolean()
		case "default":
			l.Default = v.Int32()
		case "default_proba_true":
			l.DefaultProbaTrue = v.Double()
		default:
			t.Fatalf("unexpected column %s", name)
		}
	}
	return l
}

func TestJSONLines(t *testing.T) {
	for _, labels := range []bool{false, true} {
		var buf bytes.Buffer
		w := NewJSONLines(&buf, labels)
		g := NewGenerator(2)
		var want []Labeled
		for range 100 {
			l := g.Labeled()
			want = append(want, l)
			if err := w.Write(&l); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
		if len(lines) != 100 {
			t.Fatalf("%d lines, want 100", len(lines))
		}
		for i, line := range lines {
			var got Labeled
			if err := json.Unmarshal(line, &got); err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			if !labels {
				want[i].Default, want[i].DefaultProbaTrue = 0, 0
			}
			if !reflect.DeepEqual(got, want[i]) {
				t.Fatalf("line %d: got %+v, want %+v", i, got, want[i])
			}
			if labels != bytes.Contains(line, []byte(`"default_proba_true":`)) {
				t.Fatalf("line %d: labels %v: %s", i, labels, line)
			}
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	g := NewGenerator(1)
	b.ReportAllocs()
	for b.Loop() {
		_ = g.Labeled()
	}
}

func BenchmarkJSONLines(b *testing.B) {
	g := NewGenerator(1)
	w := NewJSONLines(io.Discard, true)
	l := g.Labeled()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(&l); err != nil {
			b.Fatal(err)
		}
	}
}
