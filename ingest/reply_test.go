package ingest

import (
	"errors"
	"testing"
)

func TestReplyCheck(t *testing.T) {
	c := ReplyConfig{Allow: []string{"_INBOX.>", "results.*.done", "exact.subject"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for subject, want := range map[string]bool{
		"_INBOX.abc":          true,
		"_INBOX.abc.def":      true,
		"_INBOX":              false, // '>' needs at least one more token
		"results.x.done":      true,
		"results.x.y.done":    false,
		"results.x":           false,
		"exact.subject":       true,
		"exact.subject.more":  false,
		"$JS.API.STREAM.LIST": false,
		"$SYS.REQ.SERVER":     false,
		"_INBOX.*":            false, // not a literal
		"_INBOX..x":           false,
		"":                    false,
		"loans.score":         false,
	} {
		err := c.Check(subject)
		if (err == nil) != want {
			t.Errorf("Check(%q) = %v, want allowed=%v", subject, err, want)
		}
		if err != nil && !errors.Is(err, ErrReplyRefused) {
			t.Errorf("Check(%q) = %v, not ErrReplyRefused", subject, err)
		}
	}
	// '$' is refused even when the list allows everything.
	all := ReplyConfig{Allow: []string{">"}}
	if err := all.Check("$KV.bucket.key"); err == nil {
		t.Error("'$KV.bucket.key' allowed by '>'")
	}
	for _, bad := range []string{"$JS.>", "a.>.b", "a.b*", ""} {
		if err := (ReplyConfig{Allow: []string{bad}}).Validate(); err == nil {
			t.Errorf("Validate(%q) = nil, want an error", bad)
		}
	}
}
