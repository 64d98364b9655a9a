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

// Validate checks every pattern.
func (c ReplyConfig) Validate() error {
	var errs []error
	for _, p := range c.Allow {
		if err := checkPattern(p); err != nil {
			errs = append(errs, fmt.Errorf("reply.allow: %w", err))
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
		return fmt.Errorf("%w: Reply-To is not a valid literal subject", ErrReplyRefused)
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
	toks := strings.Split(p, ".")
	for i, t := range toks {
		switch {
		case t == "" || strings.ContainsAny(t, " \t\r\n"):
			return fmt.Errorf("%q is not a subject pattern", p)
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("%q: '>' must be the last token", p)
		case len(t) > 1 && strings.ContainsAny(t, "*>"):
			return fmt.Errorf("%q: wildcards must be whole tokens", p)
		}
	}
	return nil
}

func validLiteral(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return false
		}
	}
	return true
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
