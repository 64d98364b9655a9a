package sink

import (
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// Dead-letter headers, besides Nats-Msg-Id ("dlq:<id>"), Error-Code and the
// copied trace headers.
const (
	HeaderError            = "Error"
	HeaderOriginalSubject  = "Original-Subject"
	HeaderOriginalSequence = "Original-Sequence"
	HeaderPayloadTruncated = "Payload-Truncated"
	HeaderFailedAt         = "Failed-At"
	// HeaderOriginalMsgID carries an input's Nats-Msg-Id that was refused
	// as a result id (cut to maxOriginalID bytes, with Header-Truncated).
	HeaderOriginalMsgID = "Original-Msg-Id"
)

// DeadLetter is an input message the scorer gives up on.
type DeadLetter struct {
	// ID is the input's result id; the dead letter's Nats-Msg-Id is "dlq:"+ID.
	ID string
	// Code is the error code (invalid_input, payload_too_large, max_deliveries, ...).
	Code string
	// Error is the human-readable reason.
	Error string
	// Subject and Sequence locate the original message.
	Subject  string
	Sequence uint64
	// Payload is the original payload, truncated to fit when needed.
	Payload []byte
	// Header is the original header: trace headers are copied.
	Header nats.Header
	// RefusedID is the input's Nats-Msg-Id when it was refused as the
	// result id (ID is then the one the scorer made up); empty otherwise.
	RefusedID string
}

// maxErrorHeader bounds the Error header.
const maxErrorHeader = 1024

// maxOriginalID bounds Original-Msg-Id.
const maxOriginalID = 1024

// DeadLetterMsg builds the dead-letter message for d, on the subject of
// d.ID under the dead-letter subject (one dead letter per id, like results).
// maxPayload is the largest message the server takes (nats.Conn.MaxPayload);
// the payload is cut so headers and payload fit, and Payload-Truncated then
// gives the original size in bytes. Every header is bounded.
func (p *Publisher) DeadLetterMsg(d DeadLetter, maxPayload int64, now time.Time) *nats.Msg {
	h := make(nats.Header, 12)
	h[HeaderMsgID] = []string{"dlq:" + d.ID}
	h[HeaderExpectedLastSubjectSeq] = []string{"0"}
	h[HeaderErrorCode] = []string{headerValue(d.Code, 64)}
	h[HeaderError] = []string{headerValue(d.Error, maxErrorHeader)}
	h[HeaderOriginalSubject] = []string{d.Subject}
	h[HeaderOriginalSequence] = []string{strconv.FormatUint(d.Sequence, 10)}
	h[HeaderFailedAt] = []string{now.UTC().Format(ScoredAtLayout)}
	copyTrace(h, d.Header)
	if d.RefusedID != "" {
		id := headerValue(d.RefusedID, maxOriginalID)
		if len(d.RefusedID) > maxOriginalID {
			mark := HeaderOriginalMsgID + "=" + strconv.Itoa(len(d.RefusedID))
			if t := h.Get(HeaderTruncated); t != "" {
				mark = t + "," + mark
			}
			h[HeaderTruncated] = []string{mark}
		}
		h[HeaderOriginalMsgID] = []string{id}
	}
	payload := d.Payload
	// Room for the headers as encoded (names, values, separators) and a margin.
	room := maxPayload - int64(headerSize(h)) - 256
	if int64(len(payload)) > room {
		h[HeaderPayloadTruncated] = []string{strconv.Itoa(len(payload))}
		payload = payload[:max(room, 0)]
	}
	return &nats.Msg{Subject: IDSubject(p.cfg.DLQ, d.ID), Data: payload, Header: h}
}

// PublishDeadLetter publishes msg (from DeadLetterMsg) to the dead-letter
// stream. On a nil return done will be called exactly once; on an error it
// will not.
func (p *Publisher) PublishDeadLetter(msg *nats.Msg, done func(error)) error {
	return p.publish(msg, nil, done)
}

func headerSize(h nats.Header) int {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}
