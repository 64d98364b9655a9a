package ingest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
)

// Result ids.
//
// Every result is named by an id: the message's Nats-Msg-Id, or, for an
// async message without one, an id the scorer makes up from the message's
// place in the input stream, "<stream>:<sequence>" (MadeUpID). A result is
// stored once per id (package sink keeps one subject per id), so two
// messages must never share an id, by accident or by choice: an input id of
// the made-up form is refused (a producer publishing "LOANS:2" would
// otherwise take the result of the id-less message stored at sequence 2),
// and so is an id no result could carry: longer than limits.max_id, not
// UTF-8, or holding control characters (it travels in headers, subjects,
// bodies and log lines). A message whose id is refused is not lost: it gets
// an error result and a dead letter under its own made-up id.

// DefaultMaxID is limits.max_id's default: ids up to 256 bytes (UUIDs take
// 36, ULIDs 26, `scorer ingest` ids about 40 plus the file name).
const DefaultMaxID = 256

// MaxMaxID bounds limits.max_id: a result subject holds the id, base64
// encoded when it is not a plain token, well inside NATS's 4 KiB control
// line.
const MaxMaxID = 1024

// Problems with an id, in InputError.Fields[HeaderMsgID].
const (
	// FieldTooLong: the id is longer than limits.max_id bytes.
	FieldTooLong = "too_long"
	// FieldInvalidCharacters: the id is not UTF-8 or holds control characters.
	FieldInvalidCharacters = "invalid_characters"
	// FieldReserved: the id has the form of an id the scorer makes up.
	FieldReserved = "reserved"
)

// Headers of an input message the scorer reads.
const (
	// HeaderMsgID carries a message's id (JetStream's deduplication id).
	HeaderMsgID = jetstream.MsgIDHeader
	// HeaderReplyTo names an extra subject for the message's result:
	// JetStream uses the NATS reply field for its own ack, so the caller's
	// destination travels in a header (it must match reply.allow).
	HeaderReplyTo = "Reply-To"
)

// CheckID returns nil when id may name a result, else an *InputError whose
// Fields say what is wrong with it under HeaderMsgID. The message never
// quotes the id. An empty id is valid here: it means "none".
func CheckID(id string, maxBytes int) error {
	switch {
	case len(id) > maxBytes:
		return idError(FieldTooLong, fmt.Sprintf("%s is %d bytes long, more than limits.max_id (%d)", HeaderMsgID, len(id), maxBytes))
	case !utf8.ValidString(id) || strings.ContainsFunc(id, isControl):
		return idError(FieldInvalidCharacters, HeaderMsgID+" is not UTF-8 text without control characters")
	}
	return nil
}

// isControl reports the C0 and C1 control characters and DEL.
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }

func idError(problem, message string) error {
	return &InputError{Code: CodeInvalidInput, Message: message, Fields: map[string]string{HeaderMsgID: problem}}
}

// MadeUpID returns the id of the message at seq of stream that carries no
// usable Nats-Msg-Id: "<stream>:<seq>".
func MadeUpID(stream string, seq uint64) string {
	return stream + ":" + strconv.FormatUint(seq, 10)
}

// isMadeUpForm reports whether id has the form of an id MadeUpID would
// make for stream: the stream name, a colon and decimal digits.
func isMadeUpForm(stream, id string) bool {
	digits, ok := strings.CutPrefix(id, stream+":")
	if !ok || digits == "" {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

// ResultID returns the id of the result of the async message at seq of
// stream whose Nats-Msg-Id header is given: the header when it is a valid
// id, else MadeUpID. When the header was refused, refused is the
// *InputError saying why (the message then gets an error result under the
// made-up id).
func ResultID(header, stream string, seq uint64, maxBytes int) (id string, refused error) {
	if header == "" {
		return MadeUpID(stream, seq), nil
	}
	if err := CheckID(header, maxBytes); err != nil {
		return MadeUpID(stream, seq), err
	}
	if isMadeUpForm(stream, header) {
		return MadeUpID(stream, seq), idError(FieldReserved,
			fmt.Sprintf("%s of the form %s:<sequence> is reserved for messages without one", HeaderMsgID, stream))
	}
	return header, nil
}
