package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/internal/ratelog"
	"github.com/loan-scorer/loan-scorer/model"
)

// How the sync service answers: every answer fits the connection's max
// payload or becomes a payload_too_large error reply, and every answer that
// cannot be published is counted and logged.

// errorHeaderRoom is what an error reply's micro headers can take of the
// max payload: "NATS/1.0", Nats-Service-Error (at most
// maxErrorDescription bytes) and Nats-Service-Error-Code, with CRLFs.
const errorHeaderRoom = 512

// defaultMaxPayload stands in for the connection's max payload before the
// server has said (NATS's default, 1 MiB).
const defaultMaxPayload = 1 << 20

// Buffers a pooled request keeps for the next one: an answer of up to 64
// KiB (an array of a few hundred results) and the rows of one full batch.
// Larger ones are dropped when the request is done, so one huge request
// does not pin its memory in the pool.
const (
	maxPooledAnswer = 64 << 10
	maxPooledRows   = 256
)

// maxPayload is the largest message the connection may publish now (it
// can change with a reconnect to another server).
func (s *syncService) maxPayload() int {
	if n := s.nc.MaxPayload(); n > 0 {
		return int(n)
	}
	return defaultMaxPayload
}

// answerFloor returns a lower bound of the size of the answer to an array
// with itemErrs: every item repeats the id ({"id":"<id>:<i>",...}) and a
// bad item also carries its error's message and fields.
func answerFloor(id string, itemErrs []error) int {
	n := len("[]")
	for i, err := range itemErrs {
		n += len(`{"id":"`) + len(id) + len(":") + decimalDigits(i) + len(`"}`) + len(",")
		var ie *InputError
		if errors.As(err, &ie) {
			n += len(ie.Message)
			for k, v := range ie.Fields {
				n += len(k) + len(v)
			}
		}
	}
	return n
}

func decimalDigits(i int) int {
	n := 1
	for ; i >= 10; i /= 10 {
		n++
	}
	return n
}

// answerTooLarge is the error of a request whose answer would take at least
// size bytes, more than limit.
func answerTooLarge(size, limit int) *InputError {
	return &InputError{Code: CodePayloadTooLarge, Message: fmt.Sprintf(
		"the answer would take at least %d bytes, more than the connection's max payload (%d bytes): send fewer items or a shorter Nats-Msg-Id", size, limit)}
}

// classify returns the error body's code, message and fields for err, with
// the outcome to count.
func classify(err error) (code, message string, fields map[string]string, outcome string) {
	var ie *InputError
	switch {
	case errors.As(err, &ie):
		return ie.Code, ie.Message, ie.Fields, metrics.OutcomeInvalid
	case errors.Is(err, ErrOverloaded):
		return CodeOverloaded, "the scorer is overloaded; retry later", nil, metrics.OutcomeOverloaded
	case errors.Is(err, ErrStopping):
		return CodeNotReady, "the scorer is shutting down; retry", nil, metrics.OutcomeNotReady
	}
	return CodeInternal, err.Error(), nil, metrics.OutcomeError
}

// fail answers a request that never reached the batcher, through micro's
// Error so that the endpoint's stats count it.
func (s *syncService) fail(req micro.Request, id string, err error, start time.Time) {
	code, msg, fields, outcome := classify(err)
	body := s.door.Bodies.AppendError(nil, id, code, msg, fields)
	if limit := s.maxPayload() - errorHeaderRoom; len(body) > limit {
		// An error naming many long fields of a request near the limit.
		tooLarge := answerTooLarge(len(body), limit)
		code, msg = tooLarge.Code, tooLarge.Message
		body = s.door.Bodies.AppendError(body[:0], id, code, msg, nil)
	}
	if err := req.Error(strconv.Itoa(StatusOf(code)), headerSafe(msg), body); err != nil {
		outcome = OutcomeReplyFailed
		s.sendLog.Event("reply", ratelog.Clip(req.Reply()), "id", ratelog.Clip(id), "bytes", len(body), "error", err)
	}
	s.m.RequestsTotal.WithLabelValues(metrics.PathSync, outcome).Inc()
	s.m.EndToEndSeconds.WithLabelValues(metrics.PathSync).Observe(time.Since(start).Seconds())
}

// answer publishes the reply of a request whose rows were scored (or that
// had no good rows) and recycles r.
func (s *syncService) answer(r *syncRequest) {
	msg := &nats.Msg{Subject: r.reply}
	outcome := metrics.OutcomeScored
	limit := s.maxPayload()
	fits := false
	if r.job.Err == nil {
		r.buf, fits = r.appendBody(r.buf[:0], limit)
	}
	switch {
	case r.job.Err != nil:
		outcome = metrics.OutcomeError
		r.buf = appendErrorReply(s.door.Bodies, msg, r.buf[:0], r.id, CodeInternal, "scoring failed")
	case !fits:
		outcome = metrics.OutcomeInvalid
		r.buf = appendErrorReply(s.door.Bodies, msg, r.buf[:0], r.id, CodePayloadTooLarge, answerTooLarge(len(r.buf), limit).Message)
	}
	msg.Data = r.buf
	if err := s.nc.PublishMsg(msg); err != nil {
		outcome = OutcomeReplyFailed
		s.sendLog.Event("reply", ratelog.Clip(r.reply), "id", ratelog.Clip(r.id), "bytes", len(r.buf), "error", err)
	}
	s.m.RequestsTotal.WithLabelValues(metrics.PathSync, outcome).Inc()
	s.m.EndToEndSeconds.WithLabelValues(metrics.PathSync).Observe(time.Since(r.start).Seconds())
	s.release(r)
}

// appendErrorReply sets the micro error headers on msg and appends the
// error body to dst.
func appendErrorReply(b Bodies, msg *nats.Msg, dst []byte, id, code, message string) []byte {
	msg.Header = nats.Header{
		micro.ErrorHeader:     []string{headerSafe(message)},
		micro.ErrorCodeHeader: []string{strconv.Itoa(StatusOf(code))},
	}
	return b.AppendError(dst, id, code, message, nil)
}

// appendBody writes the result of an object, or the array of results and
// item errors of an array. It stops as soon as the body is longer than
// limit bytes and then reports false: the body cannot be sent, and is
// never built past that.
func (r *syncRequest) appendBody(dst []byte, limit int) ([]byte, bool) {
	mdl := r.job.Model
	if !r.isArray {
		dst = r.s.door.Bodies.AppendResult(dst, r.id, mdl, r.job.Out, NoteOf(r.job.Notes, 0))
		return dst, len(dst) <= limit
	}
	w := 0
	if mdl != nil {
		w = mdl.Width()
	}
	dst = append(dst, '[')
	row := 0
	for i, ierr := range r.itemErrs {
		if len(dst) > limit {
			return dst, false
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		itemID := r.id + ":" + strconv.Itoa(i)
		if ierr != nil {
			dst = appendItemError(r.s.door.Bodies, dst, itemID, ierr)
			continue
		}
		dst = r.s.door.Bodies.AppendResult(dst, itemID, mdl, r.job.Out[row*w:(row+1)*w], NoteOf(r.job.Notes, row))
		row++
	}
	dst = append(dst, ']')
	return dst, len(dst) <= limit
}

func appendItemError(b Bodies, dst []byte, id string, err error) []byte {
	var ie *InputError
	if errors.As(err, &ie) {
		return b.AppendError(dst, id, ie.Code, ie.Message, ie.Fields)
	}
	return b.AppendError(dst, id, CodeInternal, "internal error", nil)
}

// release returns r to the pool, without the buffers of an unusually large
// request.
func (s *syncService) release(r *syncRequest) {
	r.job.Model, r.job.Rows, r.job.Err, r.job.Explain = nil, nil, nil, 0
	clear(r.job.Notes) // drop the references into the scored rows
	r.job.Notes = r.job.Notes[:0]
	r.itemErrs = nil
	r.rows.Reset()
	if cap(r.buf) > maxPooledAnswer {
		r.buf = nil
	}
	if cap(r.rows.Floats) > maxPooledRows*r.rows.NumFloat || cap(r.rows.Cats) > maxPooledRows*r.rows.NumCat {
		r.rows = model.Batch{}
	}
	if 8*cap(r.job.Out) > maxPooledAnswer {
		r.job.Out = nil
	}
	s.pool.Put(r)
}

// headerSafe shortens msg and drops control characters so that it can be a
// NATS header value.
func headerSafe(msg string) string {
	if len(msg) > maxErrorDescription {
		msg = msg[:maxErrorDescription]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
}
