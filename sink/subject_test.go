package sink_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/sink"
)

func TestSubjectToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ id, tok string }{
		{"app-1", "app-1"},
		{"LOANS:42", "LOANS:42"},
		{"0b9f4a3e-6c1d-4e0f-9a43-2f1c5d7e8b90", "0b9f4a3e-6c1d-4e0f-9a43-2f1c5d7e8b90"},
		// base64url by hand: "app.1" = 61 70 70 2e 31 -> YXBw LjE
		{"app.1", "~YXBwLjE"},
		{"a b", "~YSBi"},
		{"~x", "~fng"},
		{"*", "~Kg"},
		{">", "~Pg"},
		{"", "~"},
		{"é", "~w6k"},
	} {
		if got := sink.SubjectToken(tc.id); got != tc.tok {
			t.Errorf("SubjectToken(%q) = %q, want %q", tc.id, got, tc.tok)
		}
		back, err := sink.IDOfToken(tc.tok)
		if err != nil || back != tc.id {
			t.Errorf("IDOfToken(%q) = %q, %v; want %q", tc.tok, back, err, tc.id)
		}
		if strings.ContainsAny(tc.tok, ". \t\r\n*>") {
			t.Errorf("token %q is not one subject token", tc.tok)
		}
	}
}

func TestIDOfTokenRefusesWhatSubjectTokenNeverWrites(t *testing.T) {
	t.Parallel()
	for _, tok := range []string{"", "a.b", "~YXBw=", "~!!", "~YXBw" /* "app" is written plain */, "a*"} {
		if id, err := sink.IDOfToken(tok); !errors.Is(err, sink.ErrBadToken) {
			t.Errorf("IDOfToken(%q) = %q, %v; want ErrBadToken", tok, id, err)
		}
	}
}

func TestIDSubjectRoundTrip(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"app-1", "file.parquet:0123456789ab:7", strings.Repeat("x", 1024)} {
		subj := sink.IDSubject("loans.scored", id)
		got, err := sink.IDOfSubject("loans.scored", subj)
		if err != nil || got != id {
			t.Errorf("IDOfSubject(IDSubject(%q)) = %q, %v", id, got, err)
		}
	}
	if _, err := sink.IDOfSubject("loans.scored", "loans.dlq.app-1"); !errors.Is(err, sink.ErrBadToken) {
		t.Errorf("a subject under another base: %v, want ErrBadToken", err)
	}
}

func FuzzSubjectToken(f *testing.F) {
	for _, s := range []string{"app-1", "a.b", "~", "", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		tok := sink.SubjectToken(id)
		if tok == "" || strings.ContainsAny(tok, ". \t\r\n*>") {
			t.Fatalf("SubjectToken(%q) = %q: not one literal token", id, tok)
		}
		back, err := sink.IDOfToken(tok)
		if err != nil || back != id {
			t.Fatalf("IDOfToken(SubjectToken(%q)) = %q, %v", id, back, err)
		}
	})
}
