package ingest

import (
	"errors"
	"fmt"
	"strings"
)

// ReplyConfig says where a message's Reply-To header may send its result
// (configuration keys reply.*).
type ReplyConfig struct {
	// Allow lists subject patterns (NATS wildcards '*' and '>') a Reply-To
	// must match. Subjects starting with '$' are refused whatever the list
	// says: the scorer must never publish into $JS, $SYS, $SRV or $KV.
	Allow []string `mapstructure:"allow"`
}

// DefaultReplyConfig allows only inboxes, "_INBOX.>".
func DefaultReplyConfig() ReplyConfig { return ReplyConfig{Allow: []string{"_INBOX.>"}} }

// Validate checks every pattern on its own: a subject pattern without
// control characters or spaces, not a '$' subject, and with at least one
// literal token (">", "*.>" or "*.*" would let a Reply-To name any subject
// of that shape). ValidateFor adds the check against the service's own
// subjects.
func (c ReplyConfig) Validate() error {
	var errs []error
	for _, p := range c.Allow {
		if err := checkPattern(p); err != nil {
			errs = append(errs, fmt.Errorf("reply.allow: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ValidateFor is Validate, and refuses patterns that match any of the
// service's own subjects: own.Score, own.Sync, and own.Results and
// own.DLQ with every subject under them (results are stored on a subject
// per id under own.Results). A Reply-To copy published there would be
// taken for an application, a sync request, a result or a dead letter.
func (c ReplyConfig) ValidateFor(own Subjects) error {
	if err := c.Validate(); err != nil {
		return err
	}
	ownPatterns := []struct{ key, pattern string }{
		{"subjects.score", own.Score},
		{"subjects.sync", own.Sync},
		{"subjects.results", own.Results},
		{"subjects.results", own.Results + ".>"},
		{"subjects.dlq", own.DLQ},
		{"subjects.dlq", own.DLQ + ".>"},
	}
	var errs []error
	for _, p := range c.Allow {
		for _, o := range ownPatterns {
			if patternsOverlap(p, o.pattern) {
				errs = append(errs, fmt.Errorf("reply.allow: %q matches %s (%s): a Reply-To must never name the service's own subjects", p, o.pattern, o.key))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Check returns nil when subject may receive a result copy, else an error
// wrapping ErrReplyRefused that says why.
func (c ReplyConfig) Check(subject string) error {
	if strings.HasPrefix(subject, "$") {
		return fmt.Errorf("%w: Reply-To subjects starting with '$' are never allowed", ErrReplyRefused)
	}
	if !validLiteral(subject) {
		return fmt.Errorf("%w: Reply-To is not a valid literal subject (no wildcards, empty tokens, spaces or control characters)", ErrReplyRefused)
	}
	for _, p := range c.Allow {
		if subjectMatches(p, subject) {
			return nil
		}
	}
	return fmt.Errorf("%w: Reply-To does not match reply.allow", ErrReplyRefused)
}

func checkPattern(p string) error {
	if p == "" {
		return errors.New("empty pattern")
	}
	if strings.HasPrefix(p, "$") {
		return fmt.Errorf("%q: '$' subjects are never allowed", p)
	}
	if !subjectSafe(p) {
		return fmt.Errorf("%q: spaces and control characters are not allowed in subjects", p)
	}
	toks := strings.Split(p, ".")
	literal := false
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("%q is not a subject pattern (empty token)", p)
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("%q: '>' must be the last token", p)
		case len(t) > 1 && strings.ContainsAny(t, "*>"):
			return fmt.Errorf("%q: wildcards must be whole tokens", p)
		case t != "*" && t != ">":
			literal = true
		}
	}
	if !literal {
		return fmt.Errorf("%q matches every subject of its shape: a pattern needs at least one literal token (e.g. \"_INBOX.>\")", p)
	}
	return nil
}

func validLiteral(s string) bool {
	if s == "" || len(s) > 1024 || !subjectSafe(s) {
		return false
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*>") {
			return false
		}
	}
	return true
}

// subjectSafe reports whether s holds none of the bytes a subject the
// scorer publishes to must not carry: C0 control characters (tab, CR and
// LF among them), space and DEL. They would split or corrupt the protocol
// line, or hide in log lines and monitoring output.
func subjectSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// checkAnswerSubject returns nil when the scorer may answer a request on
// subject (the NATS reply subject of a sync request), else an error
// wrapping ErrReplyRefused: a '$' subject ($JS, $SYS, $SRV, $KV: an answer
// there would be an API call made with the scorer's permissions), or one
// holding spaces or control characters.
func checkAnswerSubject(subject string) error {
	switch {
	case strings.HasPrefix(subject, "$"):
		return fmt.Errorf("%w: the scorer never answers into '$' subjects", ErrReplyRefused)
	case !subjectSafe(subject):
		return fmt.Errorf("%w: the reply subject holds spaces or control characters", ErrReplyRefused)
	}
	return nil
}

// patternsOverlap reports whether some literal subject matches both
// subject patterns a and b (NATS wildcards: '*' one token, '>' one or
// more trailing tokens).
func patternsOverlap(a, b string) bool {
	for {
		at, arest, amore := strings.Cut(a, ".")
		bt, brest, bmore := strings.Cut(b, ".")
		switch {
		case at == ">" || bt == ">":
			return true // both have a token here; '>' takes it and the rest
		case at != "*" && bt != "*" && at != bt:
			return false
		case !amore || !bmore:
			return amore == bmore
		}
		a, b = arest, brest
	}
}

// subjectMatches reports whether the literal subject matches pattern.
func subjectMatches(pattern, subject string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		st, srest, smore := strings.Cut(subject, ".")
		switch {
		case pt == ">":
			return true // '>' needs at least one token, and st is one
		case pt != "*" && pt != st:
			return false
		case !pmore || !smore:
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}
