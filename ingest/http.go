package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// HTTPConfig configures the HTTP server (keys http.*).
type HTTPConfig struct {
	// Addr is the listen address (default "127.0.0.1:8989"; use
	// "0.0.0.0:8989" in a container).
	Addr string `mapstructure:"addr"`
	// ReadTimeout bounds reading a whole request, headers included
	// (default 10s); headers alone get at most 5s of it.
	ReadTimeout time.Duration `mapstructure:"read_timeout"`
	// WriteTimeout bounds a request from the end of its headers to the end
	// of the response (default 10s).
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// MaxBody is the largest request body in bytes (default 1 MiB); larger
	// ones are answered 413.
	MaxBody int64 `mapstructure:"max_body"`
	// MaxConns caps the open HTTP connections (default 1024, far below
	// the process's file descriptor limit); at the cap the longest idle
	// keep-alive connection is closed, else new ones wait (ListenHTTP).
	MaxConns int `mapstructure:"max_conns"`
	// IdleTimeout closes a keep-alive connection idle this long (default
	// 60s).
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
}

// DefaultHTTPConfig returns the documented defaults.
func DefaultHTTPConfig() HTTPConfig {
	return HTTPConfig{Addr: "127.0.0.1:8989", ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, MaxBody: 1 << 20,
		MaxConns: 1024, IdleTimeout: 60 * time.Second}
}

// Validate reports an invalid field, named by its configuration key.
func (c HTTPConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("http.addr %q: %w", c.Addr, err)
	}
	switch {
	case c.ReadTimeout <= 0:
		return fmt.Errorf("http.read_timeout must be positive, got %s", c.ReadTimeout)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("http.write_timeout must be positive, got %s", c.WriteTimeout)
	case c.MaxBody < 2:
		return fmt.Errorf("http.max_body must be at least 2 bytes, got %d", c.MaxBody)
	case c.MaxConns < 1 || c.MaxConns > maxHTTPConns:
		return fmt.Errorf("http.max_conns must be within 1..%d, got %d", maxHTTPConns, c.MaxConns)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("http.idle_timeout must be positive, got %s", c.IdleTimeout)
	}
	return nil
}

const (
	maxHeaderTimeout = 5 * time.Second
	// maxHTTPConns bounds http.max_conns: each connection is a file
	// descriptor and a goroutine.
	maxHTTPConns = 1 << 16
	demoNotice   = "illustrative: this is the demo model built into the binary; its scores mean nothing. Start with --model PATH to serve your own."
)

// NewHTTPServer returns the HTTP server (not yet listening: serve it on
// ListenHTTP's listener, stop it with Shutdown) with these routes:
//
//	POST /predict  an application object → {"default_proba":p} (the seed's
//	               shape; {"prediction":x} for a regressor, {"probabilities":
//	               [...]} for multiclass); an array → an array in item order
//	               with {"error":{...}} in place of each bad item. 400 bad
//	               input, 413 body over MaxBody, 503 overloaded or not
//	               ready, 500 scoring failed; errors are {"error":{"code",
//	               "message","fields"}}.
//	GET /          service and model description (JSON): info() under
//	               "service", the model's version, task and features, a
//	               notice for the demo model, links.
//	GET /healthz   200 while the process is alive.
//	GET /readyz    200 when ready() is true, else 503.
//	GET /metrics   Prometheus metrics gathered from reg.
//
// Responses are JSON with X-Content-Type-Options: nosniff; nothing from the
// request is echoed unescaped. info and reg may be nil (no service section,
// no /metrics route); a nil ready means always ready.
func NewHTTPServer(cfg HTTPConfig, door FrontDoor, ready func() bool, info func() any, reg prometheus.Gatherer) *http.Server {
	door = door.withDefaults()
	if ready == nil {
		ready = func() bool { return true }
	}
	s := &httpService{cfg: cfg, door: door, ready: ready, info: info, m: door.Metrics}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /predict", s.predict)
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.ready() {
			writeJSON(w, http.StatusOK, []byte(`{"status":"ready"}`))
			return
		}
		writeJSON(w, http.StatusServiceUnavailable, []byte(`{"status":"not_ready"}`))
	})
	if reg != nil {
		mux.Handle("GET /metrics", metrics.Handler(reg))
	}
	header := cfg.ReadTimeout
	if header > maxHeaderTimeout {
		header = maxHeaderTimeout
	}
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           mux,
		ReadTimeout:       cfg.ReadTimeout,
		ReadHeaderTimeout: header,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

type httpService struct {
	cfg   HTTPConfig
	door  FrontDoor
	ready func() bool
	info  func() any
	m     *metrics.Metrics
	pool  sync.Pool // *httpRequest
}

// httpRequest is one /predict call in flight, reused through the pool
// unless the client left before its job was done.
type httpRequest struct {
	body     bytes.Buffer
	rows     model.Batch
	job      Job
	done     chan struct{}
	out      []byte
	itemErrs []error
}

func (s *httpService) get() *httpRequest {
	if r, ok := s.pool.Get().(*httpRequest); ok {
		return r
	}
	r := &httpRequest{done: make(chan struct{}, 1)}
	r.job.Done = func(*Job) { r.done <- struct{}{} }
	return r
}

func (s *httpService) put(r *httpRequest) {
	if r.body.Cap() > 1<<20 || cap(r.out) > 1<<20 {
		return // do not pin one huge request's buffers
	}
	r.body.Reset()
	r.rows.Reset()
	r.rows.NumFloat, r.rows.NumCat = 0, 0
	r.job.Model, r.job.Rows, r.job.Err, r.job.Explain = nil, nil, nil, 0
	clear(r.job.Notes) // drop the references into the scored rows
	r.job.Notes = r.job.Notes[:0]
	r.itemErrs = nil
	s.pool.Put(r)
}

func (s *httpService) predict(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	outcome := metrics.OutcomeScored
	defer func() {
		s.m.RequestsTotal.WithLabelValues(metrics.PathHTTP, outcome).Inc()
		s.m.EndToEndSeconds.WithLabelValues(metrics.PathHTTP).Observe(time.Since(start).Seconds())
	}()
	fail := func(code, msg string, fields map[string]string, o string) {
		outcome = o
		writeJSON(w, StatusOf(code), s.door.Bodies.AppendError(nil, "", code, msg, fields))
	}
	if !s.ready() {
		fail(CodeNotReady, "the scorer is not ready; retry", nil, metrics.OutcomeNotReady)
		return
	}
	r := s.get()
	if _, err := r.body.ReadFrom(http.MaxBytesReader(w, req.Body, s.cfg.MaxBody)); err != nil {
		s.put(r)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(CodePayloadTooLarge, fmt.Sprintf("request body exceeds http.max_body (%d bytes)", s.cfg.MaxBody), nil, metrics.OutcomeInvalid)
			return
		}
		fail(CodeInvalidInput, "could not read the request body", nil, metrics.OutcomeInvalid)
		return
	}
	mdl := s.door.Models.Load()
	explain, err := queryExplain(req.URL, mdl.Schema())
	if err != nil {
		s.put(r)
		var ie *InputError
		errors.As(err, &ie)
		fail(ie.Code, ie.Message, ie.Fields, metrics.OutcomeInvalid)
		return
	}
	itemErrs, isArray, err := s.door.Decoders(mdl).DecodeMany(r.body.Bytes(), &r.rows)
	if err == nil && !isArray && itemErrs[0] != nil {
		err = itemErrs[0]
	}
	if err != nil {
		s.put(r)
		var ie *InputError
		if errors.As(err, &ie) {
			fail(ie.Code, ie.Message, ie.Fields, metrics.OutcomeInvalid)
			return
		}
		fail(CodeInternal, "could not decode the request", nil, metrics.OutcomeError)
		return
	}
	r.itemErrs = itemErrs
	if r.rows.Rows > 0 {
		r.job.Model, r.job.Rows, r.job.Err, r.job.Explain = mdl, &r.rows, nil, explain
		if err := s.door.Scorer.TrySubmit(&r.job); err != nil {
			s.put(r)
			if errors.Is(err, ErrOverloaded) {
				fail(CodeOverloaded, "the scorer is overloaded; retry later", nil, metrics.OutcomeOverloaded)
				return
			}
			fail(CodeNotReady, "the scorer is shutting down; retry", nil, metrics.OutcomeNotReady)
			return
		}
		select {
		case <-r.done:
		case <-req.Context().Done():
			// The client left; the job still completes into r, which is
			// therefore not recycled.
			outcome = metrics.OutcomeError
			return
		}
		if r.job.Err != nil {
			s.put(r)
			fail(CodeInternal, "scoring failed", nil, metrics.OutcomeError)
			return
		}
	}
	var notes []reason.Note // the seed's shape unless reasons were asked for
	if explain > 0 {
		notes = r.job.Notes
	}
	r.out = appendPredictions(s.door.Bodies, r.out[:0], mdl, r.job.Out, notes, itemErrs, isArray)
	writeJSON(w, http.StatusOK, r.out)
	s.put(r)
}

// appendPredictions writes the seed-shaped body: one object, or an array of
// objects and item errors in item order; each scored row with its note's
// fields, if notes has any.
func appendPredictions(b Bodies, dst []byte, mdl *model.Loaded, out []float64, notes []reason.Note, itemErrs []error, isArray bool) []byte {
	if !isArray {
		return b.AppendPrediction(dst, mdl, out, NoteOf(notes, 0))
	}
	width := mdl.Width()
	dst = append(dst, '[')
	row := 0
	for i, ierr := range itemErrs {
		if i > 0 {
			dst = append(dst, ',')
		}
		if ierr != nil {
			dst = appendItemError(b, dst, "", ierr)
			continue
		}
		dst = b.AppendPrediction(dst, mdl, out[row*width:(row+1)*width], NoteOf(notes, row))
		row++
	}
	return append(dst, ']')
}

// queryExplain reads the explain query parameter (QueryExplain): 0 when
// absent. Given twice, or with a bad value, it is an *InputError naming
// the parameter. Other parameters are ignored, malformed or not, as the
// seed ignored them all.
func queryExplain(u *url.URL, s *model.Schema) (int, error) {
	if u.RawQuery == "" {
		return 0, nil // the common case costs no parsing
	}
	q, _ := url.ParseQuery(u.RawQuery) // keeps the well-formed pairs
	vals, ok := q[QueryExplain]
	switch {
	case !ok:
		return 0, nil
	case len(vals) > 1:
		return 0, &InputError{Code: CodeInvalidInput, Message: QueryExplain + ": given more than once",
			Fields: map[string]string{QueryExplain: FieldDuplicate}}
	}
	return ParseExplain(QueryExplain, vals[0], s)
}

// indexFeature is one feature as GET / lists it.
type indexFeature struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Used bool   `json:"used"`
}

func (s *httpService) index(w http.ResponseWriter, _ *http.Request) {
	mdl := s.door.Models.Load()
	sc := mdl.Schema()
	feats := make([]indexFeature, len(sc.Features))
	for i, f := range sc.Features {
		feats[i] = indexFeature{Name: f.Name, Kind: f.Kind.String(), Used: f.Used}
	}
	out := mdl.Output()
	field, _ := s.door.Bodies.ValueField(mdl)
	doc := map[string]any{
		"model": map[string]any{
			"version":      mdl.Version,
			"task":         out.Task.String(),
			"prediction":   mdl.Prediction.String(),
			"result_field": field,
			"class_labels": out.ClassLabels,
			"features":     feats,
		},
		"ready": s.ready(),
		"links": map[string]string{
			"predict": "POST /predict",
			"health":  "/healthz",
			"ready":   "/readyz",
			"metrics": "/metrics",
		},
	}
	if s.info != nil {
		doc["service"] = s.info()
	}
	if mdl.Demo {
		doc["notice"] = demoNotice
	}
	body, err := json.Marshal(doc)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, s.door.Bodies.AppendError(nil, "", CodeInternal, "could not describe the service", nil))
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
