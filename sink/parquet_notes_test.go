package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// TestParquetSinkKeepsNotes: results with reasons and unseen values (the
// bodies AppendResult writes) are stored in files with the note columns,
// read back with arrow-go; the results before the first note stay in a
// file of the seed's schema, and a result without notes after it gets
// empty lists.
func TestParquetSinkKeepsNotes(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	resultsStream(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := demoModel(t)
	code := &reason.Code{Code: "L01", Text: "Amount of the loan"}
	notes := []*reason.Note{
		nil, // before any note: the seed's file
		{Asked: 2, Reasons: []reason.Reason{
			{Code: code, Contribution: 0.75, Features: []reason.Value{{Name: "GrAppv", Number: 1e6, Contribution: 0.5}, {Name: "SBA_Appv", Number: 5e5, Contribution: 0.25}}},
			{Contribution: 0.125, Features: []reason.Value{{Name: "Term", Number: 84, Contribution: 0.125}}}},
			Unseen: []string{"State"}},
		nil, // no notes, in a file with the note columns
		{Asked: 1, Err: fmt.Errorf("no leaf weights")},
		{Unseen: []string{"City", "Bank"}},
	}
	for i, n := range notes {
		id := fmt.Sprintf("n%d", i)
		h := nats.Header{}
		h.Set(HeaderMsgID, id)
		body := AppendResult(nil, id, m, []float64{0.25}, n)
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "loans.scored", Header: h, Data: body}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cfg := testParquetConfig()
	cfg.Dir, cfg.MaxAge = dir, 200*time.Millisecond
	runSink(t, js, cfg, ParquetOptions{})
	testkit.Eventually(t, 20*time.Second, "every result", func() bool { return countRows(dir) == len(notes) })

	seed := arrowtest.Read(t, filepath.Join(dir, FileName(1, 1)))
	checkSinkSchema(t, FileName(1, 1), seed)
	noted := arrowtest.Read(t, filepath.Join(dir, FileName(2, 5)))
	var names []string
	for _, f := range noted.Fields {
		names = append(names, f.Name)
	}
	if want := []string{"id", "default_proba", "model", "scored_at", "error_code", "reasons", "reason_contributions", "unseen"}; !slices.Equal(names, want) {
		t.Fatalf("noted file columns %v, want %v", names, want)
	}
	list := func(col string, i int) []string {
		v := noted.Cols[col][i]
		if v == nil {
			return nil
		}
		return v.([]string)
	}
	floats := func(i int) []float64 {
		v := noted.Cols["reason_contributions"][i]
		if v == nil {
			return nil
		}
		return v.([]float64)
	}
	for i, want := range []struct {
		reasons []string
		cs      []float64
		unseen  []string
	}{
		{[]string{"L01", "Term"}, []float64{0.75, 0.125}, []string{"State"}},
		{nil, nil, nil},
		{nil, nil, nil}, // reasons_error: no reasons
		{nil, nil, []string{"City", "Bank"}},
	} {
		if got := list("reasons", i); len(got) != len(want.reasons) || !slices.Equal(got, want.reasons) {
			t.Errorf("row %d: reasons %v, want %v", i, got, want.reasons)
		}
		if got := floats(i); len(got) != len(want.cs) || !slices.EqualFunc(got, want.cs, func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }) {
			t.Errorf("row %d: contributions %v, want %v", i, got, want.cs)
		}
		if got := list("unseen", i); len(got) != len(want.unseen) || !slices.Equal(got, want.unseen) {
			t.Errorf("row %d: unseen %v, want %v", i, got, want.unseen)
		}
		if noted.Cols["default_proba"][i] != 0.25 {
			t.Errorf("row %d: default_proba %v", i, noted.Cols["default_proba"][i])
		}
	}
}

// FuzzParseRecordNotes: whatever the body, parseRecord does not panic, a
// record's reasons and contributions pair up, and a body with note fields
// that encoding/json reads as such is marked noted.
func FuzzParseRecordNotes(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","default_proba":0.25,"model":"m","reasons":[{"code":"L01","text":"t","contribution":0.5,"features":[{"feature":"x","value":1,"contribution":0.5}]},{"feature":"Term","value":84,"contribution":null}],"unseen":["State"]}`,
		`{"id":"a","default_proba":0.25,"model":"m","reasons_error":{"code":"explanation_unavailable","message":"m"}}`,
		`{"id":"a","default_proba":0.25,"reasons":"oops"}`,
		`{"id":"a","prediction":[1,2],"reasons":[],"unseen":[]}`,
		`{"reasons":[{"contribution":"x"}]}`,
		`{"unseen":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := parseRecord(body, "", "", "", "", time.Time{})
		if len(r.reasons) != len(r.contributions) {
			t.Fatalf("%q: %d reasons, %d contributions", body, len(r.reasons), len(r.contributions))
		}
		if !r.noted && (len(r.reasons) > 0 || len(r.unseen) > 0) {
			t.Fatalf("%q: notes without noted", body)
		}
		var ref noteBody
		if json.Unmarshal(body, &ref) == nil && (len(ref.Reasons) > 0 || len(ref.Unseen) > 0) && r.errorCode != codeInvalidResult {
			if !r.noted || len(r.reasons) != len(ref.Reasons) || !slices.Equal(r.unseen, ref.Unseen) {
				t.Fatalf("%q: record %+v, encoding/json reads %+v", body, r, ref)
			}
		}
	})
}
