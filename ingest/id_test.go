package ingest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/ingest"
)

func TestResultID(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		wantID       string
		problem      string // "" when the header is used
	}{
		{"absent", "", "LOANS:7", ""},
		{"plain", "app-1", "app-1", ""},
		{"at the limit", strings.Repeat("a", 20), strings.Repeat("a", 20), ""},
		{"too long", strings.Repeat("a", 21), "LOANS:7", ingest.FieldTooLong},
		{"newline", "app\n1", "LOANS:7", ingest.FieldInvalidCharacters},
		{"DEL", "app\x7f", "LOANS:7", ingest.FieldInvalidCharacters},
		{"not UTF-8", "app\xff", "LOANS:7", ingest.FieldInvalidCharacters},
		{"made-up form of another message", "LOANS:2", "LOANS:7", ingest.FieldReserved},
		{"made-up form of its own", "LOANS:7", "LOANS:7", ingest.FieldReserved},
		// Only the exact form is reserved: these are producers' own ids.
		{"other stream", "OTHER:2", "OTHER:2", ""},
		{"not digits", "LOANS:2a", "LOANS:2a", ""},
		{"no digits", "LOANS:", "LOANS:", ""},
		{"prefix only", "LOANS", "LOANS", ""},
		{"lower case", "loans:2", "loans:2", ""},
		{"ingest form", "LOANS:0123456789ab:2", "LOANS:0123456789ab:2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, refused := ingest.ResultID(tc.header, "LOANS", 7, 20)
			if id != tc.wantID {
				t.Errorf("id %q, want %q", id, tc.wantID)
			}
			if tc.problem == "" {
				if refused != nil {
					t.Fatalf("refused: %v", refused)
				}
				return
			}
			var in *ingest.InputError
			if !errors.As(refused, &in) {
				t.Fatalf("refused = %v, want an *InputError", refused)
			}
			if in.Code != ingest.CodeInvalidInput || in.Fields[ingest.HeaderMsgID] != tc.problem {
				t.Errorf("got %s %v, want %s {%s: %s}", in.Code, in.Fields, ingest.CodeInvalidInput, ingest.HeaderMsgID, tc.problem)
			}
			if tc.header != "" && strings.Contains(in.Message, tc.header) {
				t.Errorf("message %q quotes the refused id", in.Message)
			}
		})
	}
}
