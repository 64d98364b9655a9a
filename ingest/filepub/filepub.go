package filepub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/parquet-go/parquet-go"
)

// Config configures `scorer ingest`.
type Config struct {
	// Subject is the async input subject (loans.score).
	Subject string
	// InputStream is the stream capturing Subject (LOANS); its dedup window
	// bounds how far back --wait looks for results.
	InputStream string
	// ResultsStream is where results appear (LOANS_SCORED), for Wait.
	ResultsStream string
	// MaxPending bounds publishes awaiting their PubAck.
	MaxPending int
	// AckTimeout fails a publish whose PubAck does not come.
	AckTimeout time.Duration
	// Wait makes PublishFile wait for every row's result.
	Wait bool
	// WaitTimeout bounds the wait for results after the last publish.
	WaitTimeout time.Duration
}

// DefaultConfig returns the subject and streams of ingest.DefaultTopology,
// 4096 pending publishes and a 10 minute wait bound.
func DefaultConfig() Config {
	t := ingest.DefaultTopology()
	return Config{Subject: t.Subjects.Score, InputStream: t.Stream.Name, ResultsStream: t.Results.Stream,
		MaxPending: 4096, AckTimeout: 10 * time.Second, WaitTimeout: 10 * time.Minute}
}

// Stats summarise a file's publication.
type Stats struct {
	// Rows read from the file; Published were stored as new messages,
	// Duplicates were recognised by their Nats-Msg-Id (a re-run inside the
	// dedup window); Failed got no PubAck.
	Rows, Published, Duplicates, Failed int64
	// Results and ResultErrors count the results seen (Wait only).
	Results, ResultErrors int64
	// PublishTime is the time to publish and get every PubAck; EndToEnd the
	// time from the first publish to the last result, at least PublishTime
	// (Wait only).
	PublishTime, EndToEnd time.Duration
	// FirstError is the first publish failure.
	FirstError error
}

// IDPrefix returns "<basename>:<first 12 hex of sha256(content)>:", the
// Nats-Msg-Id prefix of the rows of the file at path; row i's id is the
// prefix followed by i (from 0).
func IDPrefix(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return filepath.Base(path) + ":" + hex.EncodeToString(h.Sum(nil))[:12] + ":", nil
}

// Publish publishes every row of a Parquet or JSON lines file as one
// JSON application to cfg.Subject with Nats-Msg-Id IDPrefix+row, async
// with at most cfg.MaxPending publishes in flight. progress, when set, is
// called with the rows acknowledged so far. With cfg.Wait it then waits
// for a result of every row on the results stream.
func Publish(ctx context.Context, nc *nats.Conn, path string, cfg Config, progress func(done int64)) (Stats, error) {
	var st Stats
	prefix, err := IDPrefix(path)
	if err != nil {
		return st, err
	}
	rows, err := openRowSource(path)
	if err != nil {
		return st, err
	}
	defer rows.close()

	var acked, published, dups, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxPending),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, _ *nats.Msg, ack *jetstream.PubAck) {
			if ack.Duplicate {
				dups.Add(1)
			} else {
				published.Add(1)
			}
			acked.Add(1)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			failed.Add(1)
			acked.Add(1)
			err = fmt.Errorf("publish %s: %w", m.Header.Get("Nats-Msg-Id"), err)
			firstErr.CompareAndSwap(nil, &err)
		}),
	)
	if err != nil {
		return st, fmt.Errorf("jetstream: %w", err)
	}
	var waiter *resultWaiter
	if cfg.Wait {
		if waiter, err = newResultWaiter(ctx, js, cfg, prefix); err != nil {
			return st, err
		}
		defer waiter.stop()
	}

	start := time.Now()
	buf := []byte{}
	for {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("stopped after %d rows: %w", st.Rows, err)
		}
		buf, err = rows.next(buf[:0])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("%s row %d: %w", path, st.Rows, err)
		}
		msg := &nats.Msg{Subject: cfg.Subject, Data: append([]byte(nil), buf...), Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, prefix+strconv.FormatInt(st.Rows, 10))
		if _, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(cfg.AckTimeout)); err != nil {
			return st, fmt.Errorf("publish row %d: %w", st.Rows, err)
		}
		st.Rows++
		if progress != nil && st.Rows%1024 == 0 {
			progress(acked.Load())
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return st, fmt.Errorf("waiting for %d PubAcks: %w", js.PublishAsyncPending(), ctx.Err())
	}
	st.PublishTime = time.Since(start)
	st.Published, st.Duplicates, st.Failed = published.Load(), dups.Load(), failed.Load()
	if p := firstErr.Load(); p != nil {
		st.FirstError = *p
	}
	if progress != nil {
		progress(acked.Load())
	}
	if waiter != nil && st.Failed == 0 {
		if err := waiter.wait(ctx, st.Rows, cfg.WaitTimeout, progress); err != nil {
			return st, err
		}
		st.Results, st.ResultErrors = waiter.count()
		// No result seen (no rows) leaves last at the zero time, and the
		// results of rows published before (duplicates) arrive before
		// start: either way the wait ended with the publishing.
		st.EndToEnd = max(waiter.last().Sub(start), st.PublishTime)
	}
	return st, nil
}

// resultWaiter counts the results of one file's rows on the results
// stream, through an ordered consumer (headers only) that starts as far back
// as the input stream's dedup window: a row recognised as a duplicate was
// first published inside that window, so its result is after its start.
type resultWaiter struct {
	prefix  string
	cc      jetstream.ConsumeContext
	mu      sync.Mutex
	seen    map[int64]bool
	errs    int64
	lastAt  time.Time
	updated chan struct{}
}

func newResultWaiter(ctx context.Context, js jetstream.JetStream, cfg Config, prefix string) (*resultWaiter, error) {
	window := 2 * time.Minute
	if s, err := js.Stream(ctx, cfg.InputStream); err == nil {
		window = s.CachedInfo().Config.Duplicates
	}
	cons, err := js.OrderedConsumer(ctx, cfg.ResultsStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  ptr(time.Now().Add(-window - time.Second)),
		HeadersOnly:   true,
	})
	if err != nil {
		return nil, fmt.Errorf("--wait: consumer on %s: %w", cfg.ResultsStream, err)
	}
	w := &resultWaiter{prefix: prefix, seen: map[int64]bool{}, updated: make(chan struct{}, 1)}
	w.cc, err = cons.Consume(func(m jetstream.Msg) {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		rest, ok := strings.CutPrefix(id, prefix)
		if !ok {
			return
		}
		row, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return
		}
		w.mu.Lock()
		if !w.seen[row] {
			w.seen[row] = true
			if m.Headers().Get("Error-Code") != "" {
				w.errs++
			}
			w.lastAt = time.Now()
		}
		w.mu.Unlock()
		select {
		case w.updated <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("--wait: consume %s: %w", cfg.ResultsStream, err)
	}
	return w, nil
}

func ptr[T any](v T) *T { return &v }

func (w *resultWaiter) count() (results, errs int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int64(len(w.seen)), w.errs
}

func (w *resultWaiter) last() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastAt
}

// wait returns once n results were seen, or errors at ctx's end or after
// timeout without progress.
func (w *resultWaiter) wait(ctx context.Context, n int64, timeout time.Duration, progress func(int64)) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		got, _ := w.count()
		if progress != nil {
			progress(got)
		}
		if got >= n {
			return nil
		}
		select {
		case <-w.updated:
		case <-timer.C:
			return fmt.Errorf("--wait: %d of %d results after %s", got, n, timeout)
		case <-ctx.Done():
			return fmt.Errorf("--wait: %d of %d results: %w", got, n, ctx.Err())
		}
	}
}

func (w *resultWaiter) stop() { w.cc.Stop() }

// rowSource yields a file's rows as JSON objects.
type rowSource interface {
	next(dst []byte) ([]byte, error)
	close()
}

func openRowSource(path string) (rowSource, error) {
	format, err := ingest.FileFormatOf(path)
	if err != nil {
		return nil, err
	}
	if format == ingest.CSV {
		return nil, fmt.Errorf("%s: %w: scorer ingest reads Parquet and JSON lines; CSV cells carry no types (a boolean would travel as the text \"true\"): convert it, or score it with scorer score", path, ingest.ErrFileFormat)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if format == ingest.JSONLines {
		return &jsonlSource{f: f, lines: ingest.NewLines(f, 0)}, nil
	}
	src, err := newParquetJSON(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return src, nil
}

// parquetJSON turns the rows of a Parquet file into JSON objects keyed by
// the top-level column names: numbers as JSON numbers, nulls as null,
// strings as strings, booleans as booleans. A NaN or an infinity, which
// JSON numbers cannot hold, becomes the string "NaN", "Infinity" or
// "-Infinity": the scorer's decoder refuses it as invalid_number, the rule
// for NaN everywhere (ingest's value rules). Nested columns are left out
// (an application is flat).
type parquetJSON struct {
	f     *os.File
	r     *parquet.GenericReader[any]
	names []string // by leaf column; "" for nested columns
	quote [][]byte // `"name":` by leaf column
	row   []parquet.Row
}

func newParquetJSON(f *os.File) (src *parquetJSON, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt Parquet file: %v", r)
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("corrupt Parquet file: %w", err)
	}
	p := &parquetJSON{f: f, r: parquet.NewGenericReader[any](pf), row: make([]parquet.Row, 1)}
	for _, path := range pf.Schema().Columns() {
		name := ""
		if len(path) == 1 {
			name = path[0]
		}
		p.names = append(p.names, name)
		q := strconv.AppendQuote(nil, name)
		p.quote = append(p.quote, append(q, ':'))
	}
	return p, nil
}

func (p *parquetJSON) next(dst []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt Parquet file: %v", r)
		}
	}()
	n, err := p.r.ReadRows(p.row)
	if n == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			return dst, io.EOF
		}
		return dst, err
	}
	dst = append(dst, '{')
	first := true
	for _, v := range p.row[0] {
		col := v.Column()
		if col >= len(p.names) || p.names[col] == "" {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, p.quote[col]...)
		dst = appendValueJSON(dst, v)
	}
	return append(dst, '}'), nil
}

func appendValueJSON(dst []byte, v parquet.Value) []byte {
	if v.IsNull() {
		return append(dst, "null"...)
	}
	switch v.Kind() {
	case parquet.Boolean:
		return strconv.AppendBool(dst, v.Boolean())
	case parquet.Int32:
		return strconv.AppendInt(dst, int64(v.Int32()), 10)
	case parquet.Int64:
		return strconv.AppendInt(dst, v.Int64(), 10)
	case parquet.Float, parquet.Double:
		f := v.Double()
		if v.Kind() == parquet.Float {
			f = float64(v.Float())
		}
		switch {
		case math.IsNaN(f):
			return append(dst, `"NaN"`...)
		case math.IsInf(f, 1):
			return append(dst, `"Infinity"`...)
		case math.IsInf(f, -1):
			return append(dst, `"-Infinity"`...)
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return appendJSONString(dst, v.ByteArray())
	}
	return append(dst, "null"...)
}

// appendJSONString appends b as a JSON string (control characters, quotes
// and backslashes escaped; invalid UTF-8 passes as is and the scorer's
// decoder reports it).
func appendJSONString(dst, b []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

func (p *parquetJSON) close() {
	_ = p.r.Close()
	_ = p.f.Close()
}

// jsonlSource yields the lines of a JSON lines file (ingest.Lines: blank
// lines and a byte-order mark skipped).
type jsonlSource struct {
	f     *os.File
	lines *ingest.Lines
}

func (j *jsonlSource) next(dst []byte) ([]byte, error) {
	line, _, err := j.lines.Next()
	if err != nil {
		return dst, err
	}
	return append(dst, line...), nil
}

func (j *jsonlSource) close() { _ = j.f.Close() }
