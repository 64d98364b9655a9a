package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nuid"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/internal/ratelog"
	"github.com/loan-scorer/loan-scorer/model"
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
	// Metadata is the service's metadata (`nats micro info`): the wiring
	// puts the scorer's build and the model version at start there.
	Metadata map[string]string `mapstructure:"-"`
}

// DefaultSyncConfig returns the documented defaults.
func DefaultSyncConfig() SyncConfig {
	return SyncConfig{
		Subject:     DefaultTopology().Subjects.Sync,
		Name:        "loan-scorer",
		Version:     "0.1.0",
		Description: "Scores loan applications (JSON object or array) with the loaded model; answers {\"id\",\"default_proba\",\"model\"}",
		QueueGroup:  "q",
	}
}

// Validate reports an invalid field.
func (c SyncConfig) Validate() error {
	switch {
	case c.Subject == "" || !subjectSafe(c.Subject) || strings.HasPrefix(c.Subject, "$"):
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

// Outcomes of sync requests (metrics "outcome" label) beyond those in
// package metrics.
const (
	// OutcomeReplyRefused: the request's reply subject is one the scorer
	// never answers ('$' subjects, spaces, control characters); nothing was
	// sent.
	OutcomeReplyRefused = "reply_refused"
	// OutcomeReplyFailed: the answer could not be published (the
	// connection closed or is draining, ...).
	OutcomeReplyFailed = "reply_failed"
)

// maxErrorDescription bounds the Nats-Service-Error header value.
const maxErrorDescription = 200

// syncLogEvery is how often answers that fail to go out, and requests whose
// reply subject is refused, are logged at most (each is counted).
const syncLogEvery = 10 * time.Second

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
// array of up to limits.max_array objects) is decoded with
// door.Decoders(door.Models.Load()) and handed to door.Scorer with
// TrySubmit; the handler then returns, and the reply is published from the
// scorer's Done callback, so concurrent callers share batches.
//
// Replies: {"id":...,"default_proba":p,"model":...} for an object, where id
// is the request's Nats-Msg-Id header or a generated NUID; for an array, an
// array in item order where item i has id "<id>:<i>" and a bad item is
// replaced by its error object. Errors are replies with the micro error
// headers (Nats-Service-Error: message, Nats-Service-Error-Code: 400, 413,
// 500 or 503) and the body {"id":...,"error":{...}}; a scorer without room
// answers 503 at once. A Nats-Msg-Id that CheckID refuses (longer than
// limits.max_id, control characters) is a 400 naming the header, answered
// under a generated id. An answer that would exceed the connection's max
// payload is replaced by a 413 payload_too_large error reply: before
// scoring when the request's item count and id already make it too large,
// after scoring otherwise.
//
// Requests without a reply subject are dropped; requests whose reply
// subject starts with '$' or holds spaces or control characters are never
// answered (outcome reply_refused, logged at debug level). Answers that
// fail to publish are counted (outcome reply_failed) and logged at warn
// level. Both logs write at most one line per 10 s, with input values
// clipped (door.Log; nil: nothing is logged).
//
// Memory: a request costs its decoded rows (in proportion to its size),
// its item errors (at most limits.max_array, each listing at most
// MaxErrorFields fields; a request whose errors alone could not be sent is
// refused before it waits for the batcher) and an answer of at most the
// connection's max payload; buffers larger than a typical answer are not
// kept for reuse.
//
// Replies from the scorer are published on nc directly rather than through
// micro.Request, whose error bookkeeping is not safe once the handler has
// returned; micro's endpoint stats therefore count requests and the errors
// answered by the handler (400, 413, 503), while the Prometheus metrics
// count every outcome.
//
// Stop the returned service before draining nc; replies of jobs still in
// the scorer go out as long as nc is open.
func NewSyncService(nc *nats.Conn, cfg SyncConfig, door FrontDoor) (*SyncService, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	door = door.withDefaults()
	s := &syncService{nc: nc, door: door, m: door.Metrics,
		sendLog:   ratelog.NewLimiter(door.Log, slog.LevelWarn, "sync answer not sent", syncLogEvery),
		refuseLog: ratelog.NewLimiter(door.Log, slog.LevelDebug, "sync request not answered: reply subject refused", syncLogEvery),
	}
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
		Metadata:    maps.Clone(cfg.Metadata),
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
	return &SyncService{Service: svc, stopped: make(chan struct{})}, nil
}

// SyncService is the running sync micro service (its micro.Service for
// Info and Stats), with the service's stop shape: Run returns once Stop
// has removed the endpoint; the service answers on the connection's
// goroutines and has no failure of its own to report.
type SyncService struct {
	micro.Service
	stop    sync.Once
	stopped chan struct{}
	err     error
}

// Run returns once Stop has finished, or when ctx ends.
func (s *SyncService) Run(ctx context.Context) error {
	select {
	case <-s.stopped:
	case <-ctx.Done():
	}
	return nil
}

// Stop stops answering requests (micro's Stop); answers of jobs still in
// the scorer go out as long as the connection is open. It is idempotent.
func (s *SyncService) Stop(context.Context) error {
	s.stop.Do(func() {
		if err := s.Service.Stop(); err != nil {
			s.err = fmt.Errorf("stop sync service: %w", err)
		}
		close(s.stopped)
	})
	return s.err
}

type syncService struct {
	nc        *nats.Conn
	door      FrontDoor
	m         *metrics.Metrics
	sendLog   *ratelog.Limiter // answers that could not be published
	refuseLog *ratelog.Limiter // reply subjects never answered
	pool      sync.Pool        // *syncRequest
}

// syncRequest is one request in flight, reused through the pool.
type syncRequest struct {
	s        *syncService
	job      Job
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
	reply := req.Reply()
	if reply == "" {
		return // a publish, not a request: nobody to answer
	}
	if err := checkAnswerSubject(reply); err != nil {
		s.m.RequestsTotal.WithLabelValues(metrics.PathSync, OutcomeReplyRefused).Inc()
		s.refuseLog.Event("reply", ratelog.Clip(reply), "reason", err)
		return
	}
	mdl := s.door.Models.Load()
	dec := s.door.Decoders(mdl)
	id, err := requestID(req.Headers().Get(HeaderMsgID), dec.lim.MaxID)
	if err != nil {
		s.fail(req, id, err, start)
		return
	}
	explain := 0
	if h := req.Headers().Get(HeaderExplain); h != "" {
		if explain, err = ParseExplain(HeaderExplain, h, mdl.Schema()); err != nil {
			s.fail(req, id, err, start)
			return
		}
	}
	r := s.pool.Get().(*syncRequest)
	r.rows.Reset()
	r.rows.NumFloat, r.rows.NumCat = 0, 0
	itemErrs, isArray, err := dec.DecodeMany(req.Data(), &r.rows)
	if err == nil && !isArray && itemErrs[0] != nil {
		err = itemErrs[0]
	}
	if err == nil && isArray {
		// Refuse now what could never be sent, before scoring it and
		// before building it.
		if floor, limit := answerFloor(id, itemErrs), s.maxPayload(); floor > limit {
			err = answerTooLarge(floor, limit)
		}
	}
	if err != nil {
		s.release(r)
		s.fail(req, id, err, start)
		return
	}
	r.itemErrs, r.isArray, r.id, r.reply, r.start = itemErrs, isArray, id, reply, start
	if r.rows.Rows == 0 { // an array whose items are all bad, or empty
		s.answer(r)
		return
	}
	r.job.Model, r.job.Rows, r.job.Err, r.job.Explain = mdl, &r.rows, nil, explain
	if err := s.door.Scorer.TrySubmit(&r.job); err != nil {
		s.release(r)
		s.fail(req, id, err, start)
	}
}

// requestID returns the id of a request whose Nats-Msg-Id header is
// header: the header when CheckID accepts it, else a generated NUID (and,
// for a refused header, the *InputError saying why).
func requestID(header string, maxID int) (string, error) {
	if header == "" {
		return nuid.Next(), nil
	}
	if err := CheckID(header, maxID); err != nil {
		return nuid.Next(), err
	}
	return header, nil
}

// done is the scorer's callback for a sync job.
func (r *syncRequest) done(*Job) { r.s.answer(r) }
