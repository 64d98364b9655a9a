package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Target sends one request to the scorer and waits for its answer.
// Do is safe for concurrent use by every simulated user; it returns nil
// only for a successful score, an error wrapping ErrFailed when the
// scorer answered with an error, and another error when no answer came
// (timeout, connection refused). ctx bounds the request.
type Target interface {
	Do(ctx context.Context, body []byte) error
	// Name is a short label for reports ("nats", "http", "async").
	Name() string
}

// NATSSync requests the sync micro service (loans.score.sync).
type NATSSync struct {
	nc      *nats.Conn
	subject string
}

// NewNATSSync returns a target requesting subject over nc. The caller
// owns nc.
func NewNATSSync(nc *nats.Conn, subject string) *NATSSync {
	return &NATSSync{nc: nc, subject: subject}
}

// Name implements Target.
func (t *NATSSync) Name() string { return "nats" }

// Do implements Target: a reply with the micro error header is a failure.
func (t *NATSSync) Do(ctx context.Context, body []byte) error {
	msg, err := t.nc.RequestWithContext(ctx, t.subject, body)
	if err != nil {
		return fmt.Errorf("request %s: %w", t.subject, err)
	}
	if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
		return fmt.Errorf("%w: %s %s: %s", ErrFailed, t.subject, code, msg.Header.Get("Nats-Service-Error"))
	}
	return nil
}

// HTTP posts to the seed-compatible POST /predict.
type HTTP struct {
	client *http.Client
	url    string
}

// NewHTTP returns a target posting JSON to url (e.g.
// http://127.0.0.1:8989/predict). Its client keeps up to conns idle
// connections to the server, so every user can reuse its own connection
// as Locust's users do.
func NewHTTP(url string, conns int) *HTTP {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &HTTP{client: &http.Client{Transport: tr}, url: url}
}

// Name implements Target.
func (t *HTTP) Name() string { return "http" }

// Do implements Target: a status other than 200 is a failure. The body is
// read to the end so the connection is reused.
func (t *HTTP) Do(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post %s: %w", t.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", t.url, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: post %s: %s", ErrFailed, t.url, resp.Status)
	}
	if err != nil {
		return fmt.Errorf("read answer of %s: %w", t.url, err)
	}
	return nil
}

// Close closes the idle connections.
func (t *HTTP) Close() { t.client.CloseIdleConnections() }

// Async publishes to the async subject (loans.score) through JetStream and
// waits for the result under the results subject (loans.scored.<id>: it
// listens on loans.scored.>), matched by its Nats-Msg-Id: the end-to-end path of a producer. Every message gets a
// fresh id (prefix plus a counter), so JetStream deduplication never
// swallows a repeated body.
type Async struct {
	js      jetstream.JetStream
	subject string
	prefix  string
	next    atomic.Uint64
	sub     *nats.Subscription

	mu      sync.Mutex
	waiting map[string]chan []byte
}

// NewAsync subscribes to results over nc and returns a target publishing
// to subject. prefix starts every message id; make it unique per run
// (NewRunID). Close unsubscribes; the caller owns nc.
func NewAsync(nc *nats.Conn, subject, results, prefix string) (*Async, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	t := &Async{js: js, subject: subject, prefix: prefix, waiting: make(map[string]chan []byte)}
	sub, err := nc.Subscribe(results+".>", t.onResult)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", results, err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe %s: %w", results, err)
	}
	// The subscription must be registered with the server before the
	// first publish, or an early result is missed.
	if err := nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe %s: %w", results, err)
	}
	t.sub = sub
	return t, nil
}

// NewRunID returns a message id prefix unique to this run.
func NewRunID(label string) string {
	return label + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
}

// Name implements Target.
func (t *Async) Name() string { return "async" }

func (t *Async) onResult(m *nats.Msg) {
	id := m.Header.Get("Nats-Msg-Id")
	if !strings.HasPrefix(id, t.prefix) {
		return
	}
	t.mu.Lock()
	ch := t.waiting[id]
	delete(t.waiting, id)
	t.mu.Unlock()
	if ch != nil {
		ch <- m.Data
	}
}

// Do implements Target: publish, wait for the JetStream ack, then for the
// result; a result with an error body is a failure.
func (t *Async) Do(ctx context.Context, body []byte) error {
	id := t.prefix + strconv.FormatUint(t.next.Add(1), 10)
	ch := make(chan []byte, 1)
	t.mu.Lock()
	t.waiting[id] = ch
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.waiting, id)
		t.mu.Unlock()
	}()
	if _, err := t.js.Publish(ctx, t.subject, body, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("publish %s id %s: %w", t.subject, id, err)
	}
	select {
	case data := <-ch:
		if isError(data) {
			return fmt.Errorf("%w: result %s: %.200s", ErrFailed, id, data)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for result %s: %w", id, ctx.Err())
	}
}

// Close unsubscribes from the results subject.
func (t *Async) Close() error {
	if err := t.sub.Unsubscribe(); err != nil {
		return fmt.Errorf("unsubscribe results: %w", err)
	}
	return nil
}

// isError tells an error result body ({"id":...,"error":{...}}) from a score.
func isError(body []byte) bool { return bytes.Contains(body, []byte(`"error":`)) }
