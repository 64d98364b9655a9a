package sink

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Results and dead letters are stored one subject per id: the result of id
// lives on "<results subject>.<SubjectToken(id)>", its dead letter on
// "<dlq subject>.<SubjectToken(id)>". Each is published with
// Nats-Expected-Last-Subject-Sequence: 0, so JetStream stores it only if
// nothing is stored on that subject yet: a result is stored once per id for
// as long as the stream keeps it, whatever time passed since the first
// publish (a redelivery after a long outage included), without relying on
// the dedup window. It also makes a result fetchable by id:
//
//	nats stream get LOANS_SCORED -S loans.scored.app-1
//
// The token is the id itself when every byte of it is printable ASCII other
// than '.', '*', '>' and '~' (so "app-1", UUIDs, "LOANS:42" stay readable);
// any other id (dots, spaces, non-ASCII, empty) is written as '~' followed
// by its unpadded base64url encoding ("app.1" → "~YXBwLjE"). The two forms
// cannot meet: plain tokens never start with '~'. IDOfToken reverses it.

// encodedMark starts a token that holds an encoded id.
const encodedMark = '~'

// plainTokenByte reports whether b may appear in an id written as is.
func plainTokenByte(b byte) bool {
	return b > ' ' && b < 0x7f && b != '.' && b != '*' && b != '>' && b != encodedMark
}

// SubjectToken returns the subject token that stores id's result and dead
// letter (see above).
func SubjectToken(id string) string {
	plain := id != ""
	for i := 0; i < len(id) && plain; i++ {
		plain = plainTokenByte(id[i])
	}
	if plain {
		return id
	}
	return string(encodedMark) + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// ErrBadToken: a subject token that SubjectToken cannot have written.
var ErrBadToken = errors.New("not a result subject token")

// IDOfToken returns the id whose result is stored under tok, the inverse
// of SubjectToken.
func IDOfToken(tok string) (string, error) {
	if rest, ok := strings.CutPrefix(tok, string(encodedMark)); ok {
		b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
		if err != nil {
			return "", fmt.Errorf("%w: %q: %v", ErrBadToken, tok, err)
		}
		if SubjectToken(string(b)) != tok {
			return "", fmt.Errorf("%w: %q encodes an id that is written plain", ErrBadToken, tok)
		}
		return string(b), nil
	}
	if tok == "" || SubjectToken(tok) != tok {
		return "", fmt.Errorf("%w: %q", ErrBadToken, tok)
	}
	return tok, nil
}

// IDSubject returns the subject under base that stores id's message:
// base + "." + SubjectToken(id).
func IDSubject(base, id string) string {
	return base + "." + SubjectToken(id)
}

// IDOfSubject returns the id stored on subject under base, the inverse of
// IDSubject.
func IDOfSubject(base, subject string) (string, error) {
	tok, ok := strings.CutPrefix(subject, base+".")
	if !ok {
		return "", fmt.Errorf("%w: subject %q is not under %s", ErrBadToken, subject, base)
	}
	return IDOfToken(tok)
}
