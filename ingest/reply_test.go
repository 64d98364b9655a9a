package ingest

import (
	"errors"
	"strings"
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

// TestReplyRefusesControlCharacters: a Reply-To, or a pattern, holding a
// C0 control character, a space or DEL is refused, whatever reply.allow
// says.
func TestReplyRefusesControlCharacters(t *testing.T) {
	c := ReplyConfig{Allow: []string{"_INBOX.>"}}
	for _, subject := range []string{"_INBOX.a\x00", "_INBOX.a\x01b", "_INBOX.a\x1f", "_INBOX.a\x7f", "_INBOX.a b", "_INBOX.a\tb", "_INBOX.a\r\nPUB x 1"} {
		if err := c.Check(subject); !errors.Is(err, ErrReplyRefused) {
			t.Errorf("Check(%q) = %v, want refused", subject, err)
		}
		if err := checkAnswerSubject(subject); !errors.Is(err, ErrReplyRefused) {
			t.Errorf("checkAnswerSubject(%q) = %v, want refused", subject, err)
		}
	}
	for _, ok := range []string{"_INBOX.abc", "_INBOX.é.ü", "_INBOX.a-b_c"} {
		if err := c.Check(ok); err != nil {
			t.Errorf("Check(%q) = %v", ok, err)
		}
		if err := checkAnswerSubject(ok); err != nil {
			t.Errorf("checkAnswerSubject(%q) = %v", ok, err)
		}
	}
	for _, s := range []string{"$JS.API.STREAM.DELETE.LOANS", "$SYS.REQ.SERVER.PING", "$SRV.INFO", "$KV.b.k"} {
		if err := checkAnswerSubject(s); !errors.Is(err, ErrReplyRefused) {
			t.Errorf("checkAnswerSubject(%q) = %v, want refused", s, err)
		}
	}
	for _, bad := range []string{"_INBOX.\x01>", "_INBOX.a\x7f.>", "a b.>"} {
		if err := (ReplyConfig{Allow: []string{bad}}).Validate(); err == nil {
			t.Errorf("Validate(%q) = nil, want an error", bad)
		}
	}
}

// TestReplyAllowSafety: patterns that match every subject of their shape,
// or any of the service's own subjects (results and dead letters with
// everything under them), are refused at start, naming reply.allow.
func TestReplyAllowSafety(t *testing.T) {
	own := Subjects{Score: "loans.score", Sync: "loans.score.sync", Results: "loans.scored", DLQ: "loans.dlq"}
	for _, ok := range []string{"_INBOX.>", "callers.*", "callers.*.done", "loans.scorer", "loans.scored2.>", "other.loans.score", "*.results.x"} {
		if err := (ReplyConfig{Allow: []string{"_INBOX.>", ok}}).ValidateFor(own); err != nil {
			t.Errorf("ValidateFor(%q) = %v", ok, err)
		}
	}
	for pattern, names := range map[string]string{
		">":                    "every subject",
		"*.>":                  "every subject",
		"*":                    "every subject",
		"*.*.>":                "every subject",
		"loans.>":              "subjects.score",
		"loans.*":              "subjects.score",
		"*.score":              "subjects.score",
		"loans.score.*":        "subjects.sync",
		"loans.score.sync":     "subjects.sync",
		"loans.scored":         "subjects.results",
		"loans.scored.>":       "subjects.results",
		"loans.scored.*":       "subjects.results",
		"loans.scored.app-1.x": "subjects.results",
		"*.scored.*.*":         "subjects.results",
		"loans.dlq.>":          "subjects.dlq",
		"*.dlq":                "subjects.dlq",
	} {
		err := (ReplyConfig{Allow: []string{"_INBOX.>", pattern}}).ValidateFor(own)
		if err == nil {
			t.Errorf("ValidateFor(%q) = nil, want an error naming %s", pattern, names)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "reply.allow: ") || !strings.Contains(msg, names) {
			t.Errorf("ValidateFor(%q) = %q, want the key and %s named", pattern, msg, names)
		}
	}
	// The default is safe with the default subjects.
	if err := DefaultReplyConfig().ValidateFor(own); err != nil {
		t.Fatal(err)
	}
}

func TestPatternsOverlap(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"a.>", "a", false},
		{"a.>", "a.b.c", true},
		{"*.b.>", "a.*.c", true},
		{"a.b", "a.b.>", false},
		{">", "x", true},
		{"a.*.c", "a.b.d", false},
	} {
		if got := patternsOverlap(c.a, c.b); got != c.want {
			t.Errorf("patternsOverlap(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := patternsOverlap(c.b, c.a); got != c.want {
			t.Errorf("patternsOverlap(%q, %q) = %v, want %v", c.b, c.a, got, c.want)
		}
	}
}

// FuzzReplySubject: for any Reply-To header or sync reply subject, Check
// and checkAnswerSubject never let through a '$' subject or one holding
// spaces or control characters, and Check lets through only subjects that
// an allowed pattern matches.
func FuzzReplySubject(f *testing.F) {
	for _, s := range []string{"_INBOX.a", "_INBOX.a\x01", "$JS.API.X", "callers.x", "callers.x.y", "a b", "_INBOX..x", "_INBOX.*", ">", "é.\x7f"} {
		f.Add(s)
	}
	c := ReplyConfig{Allow: []string{"_INBOX.>", "callers.*"}}
	f.Fuzz(func(t *testing.T, subject string) {
		unsafe := strings.HasPrefix(subject, "$") || strings.ContainsFunc(subject, func(r rune) bool { return r <= ' ' || r == 0x7f })
		if err := checkAnswerSubject(subject); (err == nil) == unsafe {
			t.Fatalf("checkAnswerSubject(%q) = %v", subject, err)
		}
		err := c.Check(subject)
		if err != nil {
			if !errors.Is(err, ErrReplyRefused) {
				t.Fatalf("Check(%q) = %v, not ErrReplyRefused", subject, err)
			}
			return
		}
		if unsafe || strings.ContainsAny(subject, "*>") {
			t.Fatalf("Check(%q) allowed it", subject)
		}
		if !strings.HasPrefix(subject, "_INBOX.") && !(strings.HasPrefix(subject, "callers.") && strings.Count(subject, ".") == 1) {
			t.Fatalf("Check(%q) allowed a subject outside reply.allow", subject)
		}
	})
}
