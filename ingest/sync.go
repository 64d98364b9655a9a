package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nuid"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/sink"
	"github.com/loan-scorer/loan-scorer/worker"
)

// SyncConfig configures the request-reply shim, a NATS micro service.
type SyncConfig struct {
	// Subject is the endpoint's subject (key subjects.sync, default
	// "loans.score.sync"). No stream may capture it.
	Subject string `mapstructure:"subject"`
	// Name is the micro service name (default "loan-scorer"), as `nats micro
	// info loan-scorer` finds it.
	Name string `mapstructure:"name"`
	// Version is the service's SemVer version (default "0.1.0").
	Version string `mapstructure:"version"`
	// Description is shown by `nats micro info`.
	Description string `mapstructure:"description"`
	// QueueGroup spreads requests over every scorer process (default "q",
	// the micro default).
	QueueGroup string `mapstructure:"queue_group"`
}

// DefaultSyncConfig returns the documented defaults.
func DefaultSyncConfig() SyncConfig {
	return SyncConfig{
		Subject:     "loans.score.sync",
		Name:        "loan-scorer",
		Version:     "0.1.0",
		Description: "Scores loan applications (JSON object or array) with the loaded model; answers {\"id\",\"default_proba\",\"model\"}",
		QueueGroup:  "q",
	}
}

// Validate reports an invalid field.
func (c SyncConfig) Validate() error {
	switch {
	case c.Subject == "" || strings.ContainsAny(c.Subject, " \t\r\n") || strings.HasPrefix(c.Subject, "$"):
		return fmt.Errorf("subjects.sync %q is not a valid subject for the sync service", c.Subject)
	case c.Name == "":
		return errors.New("sync service name must not be empty")
	case c.Version == "":
		return errors.New("sync service version must not be empty")
	}
	return nil
}

// EndpointName is the micro endpoint of the sync service.
const EndpointName = "score"

// Status codes in the Nats-Service-Error-Code header of sync error replies:
// the HTTP status a caller would have got for the same problem.
const (
	// StatusBadRequest answers invalid_input.
	StatusBadRequest = 400
	// StatusTooLarge answers payload_too_large.
	StatusTooLarge = 413
	// StatusInternal answers internal (scoring failed).
	StatusInternal = 500
	// StatusUnavailable answers overloaded and not_ready.
	StatusUnavailable = 503
)

const (
	headerMsgID = "Nats-Msg-Id"
	// maxErrorDescription bounds the Nats-Service-Error header value.
	maxErrorDescription = 200
)

// StatusOf returns the HTTP-style status for an error code.
func StatusOf(code string) int {
	switch code {
	case CodeInvalidInput:
		return StatusBadRequest
	case CodePayloadTooLarge:
		return StatusTooLarge
	case CodeOverloaded, CodeNotReady:
		return StatusUnavailable
	}
	return StatusInternal
}

// NewSyncService starts the sync micro service on nc: endpoint "score" on
// cfg.Subject in queue group cfg.QueueGroup. Each request (an object or an
// array of up to limits.max_array objects) is decoded with dec(h.Load())
// and handed to b with TrySubmit; the handler then returns, and the reply is
// published from the batcher's Done callback, so concurrent callers share
// batches.
//
// Replies: {"id":...,"default_proba":p,"model":...} for an object, where id
// is the request's Nats-Msg-Id header or a generated NUID; for an array, an
// array in item order where item i has id "<id>:<i>" and a bad item is
// replaced by its error object. Errors are replies with the micro error
// headers (Nats-Service-Error: message, Nats-Service-Error-Code: 400, 413,
// 500 or 503) and the body {"id":...,"error":{...}}; a full batcher queue
// answers 503 at once. Requests without a reply subject are dropped.
//
// Replies from the batcher are published on nc directly rather than through
// micro.Request, whose error bookkeeping is not safe once the handler has
// returned; micro's endpoint stats therefore count requests and the errors
// answered by the handler (400, 413, 503), while the Prometheus metrics
// count every outcome.
//
// Stop the returned service (Stop) before draining nc; replies of jobs still
// in the batcher go out as long as nc is open.
func NewSyncService(nc *nats.Conn, cfg SyncConfig, h *worker.Holder, dec func(*worker.Model) *Decoder, b *worker.Batcher, m *metrics.Metrics) (micro.Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m = metrics.New(nil)
	}
	s := &syncService{nc: nc, h: h, dec: dec, b: b, m: m}
	s.pool.New = func() any {
		r := &syncRequest{s: s}
		r.job.Done = r.done
		return r
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        cfg.Name,
		Version:     cfg.Version,
		Description: cfg.Description,
		QueueGroup:  cfg.QueueGroup,
	})
	if err != nil {
		return nil, fmt.Errorf("start micro service %s: %w", cfg.Name, err)
	}
	err = svc.AddEndpoint(EndpointName, micro.HandlerFunc(s.handle),
		micro.WithEndpointSubject(cfg.Subject),
		micro.WithEndpointMetadata(map[string]string{
			"format":   "JSON object or array of objects, fields named as the model's features",
			"response": "{\"id\",\"default_proba\"|\"prediction\"|\"probabilities\",\"model\"}; arrays in order",
			"errors":   "Nats-Service-Error-Code 400 invalid_input, 413 payload_too_large, 503 overloaded, 500 internal",
		}))
	if err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("add endpoint %s on %s: %w", EndpointName, cfg.Subject, err)
	}
	// Once NewSyncService returns, requests from any connection reach the
	// endpoint (no "no responders" while the subscription is in flight).
	if err := nc.Flush(); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("flush the %s subscription: %w", cfg.Subject, err)
	}
	return svc, nil
}

type syncService struct {
	nc   *nats.Conn
	h    *worker.Holder
	dec  func(*worker.Model) *Decoder
	b    *worker.Batcher
	m    *metrics.Metrics
	pool sync.Pool // *syncRequest
}

// syncRequest is one request in flight, reused through the pool.
type syncRequest struct {
	s        *syncService
	job      worker.Job
	rows     model.Batch
	itemErrs []error
	isArray  bool
	id       string
	reply    string
	start    time.Time
	buf      []byte
}

func (s *syncService) handle(req micro.Request) {
	start := time.Now()
	id := req.Headers().Get(headerMsgID)
	if id == "" {
		id = nuid.Next()
	}
	if req.Reply() == "" {
		return
	}
	mdl := s.h.Load()
	r := s.pool.Get().(*syncRequest)
	r.rows.Reset()
	r.rows.NumFloat, r.rows.NumCat = 0, 0
	itemErrs, isArray, err := s.dec(mdl).DecodeMany(req.Data(), &r.rows)
	if err == nil && !isArray && itemErrs[0] != nil {
		err = itemErrs[0]
	}
	if err != nil {
		s.release(r)
		s.fail(req, id, err, start)
		return
	}
	r.itemErrs, r.isArray, r.id, r.reply, r.start = itemErrs, isArray, id, req.Reply(), start
	if r.rows.Rows == 0 { // an array whose items are all bad, or empty
		s.answer(r)
		return
	}
	r.job.Model, r.job.Rows, r.job.Err = mdl, &r.rows, nil
	if err := s.b.TrySubmit(&r.job); err != nil {
		s.release(r)
		s.fail(req, id, err, start)
	}
}

// fail answers a request that never reached the batcher.
func (s *syncService) fail(req micro.Request, id string, err error, start time.Time) {
	code, outcome := CodeInternal, metrics.OutcomeError
	msg := err.Error()
	var fields map[string]string
	var ie *InputError
	switch {
	case errors.As(err, &ie):
		code, msg, fields, outcome = ie.Code, ie.Message, ie.Fields, metrics.OutcomeInvalid
	case errors.Is(err, worker.ErrOverloaded):
		code, msg, outcome = CodeOverloaded, "the scorer is overloaded; retry later", metrics.OutcomeOverloaded
	case errors.Is(err, worker.ErrClosed):
		code, msg, outcome = CodeNotReady, "the scorer is shutting down; retry", metrics.OutcomeNotReady
	}
	body := sink.AppendError(nil, id, code, msg, fields)
	_ = req.Error(strconv.Itoa(StatusOf(code)), headerSafe(msg), body)
	s.m.RequestsTotal.WithLabelValues(metrics.PathSync, outcome).Inc()
	s.m.EndToEndSeconds.WithLabelValues(metrics.PathSync).Observe(time.Since(start).Seconds())
}

// done is the batcher's callback for a sync job.
func (r *syncRequest) done(*worker.Job) { r.s.answer(r) }

// answer publishes the reply of a request whose rows were scored (or that
// had no good rows) and recycles r.
func (s *syncService) answer(r *syncRequest) {
	msg := &nats.Msg{Subject: r.reply}
	outcome := metrics.OutcomeScored
	if r.job.Err != nil {
		outcome = metrics.OutcomeError
		const message = "scoring failed"
		r.buf = sink.AppendError(r.buf[:0], r.id, CodeInternal, message, nil)
		msg.Header = nats.Header{
			micro.ErrorHeader:     []string{message},
			micro.ErrorCodeHeader: []string{strconv.Itoa(StatusInternal)},
		}
	} else {
		r.buf = r.appendBody(r.buf[:0])
	}
	msg.Data = r.buf
	if err := s.nc.PublishMsg(msg); err != nil {
		outcome = metrics.OutcomeError
	}
	s.m.RequestsTotal.WithLabelValues(metrics.PathSync, outcome).Inc()
	s.m.EndToEndSeconds.WithLabelValues(metrics.PathSync).Observe(time.Since(r.start).Seconds())
	s.release(r)
}

// appendBody writes the result of an object, or the array of results and
// item errors of an array.
func (r *syncRequest) appendBody(dst []byte) []byte {
	mdl := r.job.Model
	if !r.isArray {
		return sink.AppendResult(dst, r.id, mdl, r.job.Out)
	}
	w := 0
	if mdl != nil {
		w = mdl.Width()
	}
	dst = append(dst, '[')
	row := 0
	for i, ierr := range r.itemErrs {
		if i > 0 {
			dst = append(dst, ',')
		}
		itemID := r.id + ":" + strconv.Itoa(i)
		if ierr != nil {
			dst = appendItemError(dst, itemID, ierr)
			continue
		}
		dst = sink.AppendResult(dst, itemID, mdl, r.job.Out[row*w:(row+1)*w])
		row++
	}
	return append(dst, ']')
}

func appendItemError(dst []byte, id string, err error) []byte {
	var ie *InputError
	if errors.As(err, &ie) {
		return sink.AppendError(dst, id, ie.Code, ie.Message, ie.Fields)
	}
	return sink.AppendError(dst, id, CodeInternal, "internal error", nil)
}

func (s *syncService) release(r *syncRequest) {
	r.job.Model, r.job.Rows, r.job.Err = nil, nil, nil
	r.itemErrs = nil
	r.rows.Reset()
	if cap(r.buf) > 1<<20 {
		r.buf = nil // do not pin one huge reply's buffer
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
