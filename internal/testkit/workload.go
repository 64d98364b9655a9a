package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/parquet-go/parquet-go"
)

// App returns the JSON body of application i: the seed's first example
// application (DESIGN.md) with Term and NoEmp varied by i, so bodies
// differ and every one is valid.
func App(i int) []byte {
	return fmt.Appendf(nil, `{"Term":%d,"NoEmp":%d,"CreateJob":0,"RetainedJob":5,"longitude":-77.9221,"latitude":35.3664,"GrAppv":1500000.0,"SBA_Appv":1275000.0,"is_new":true,"FranchiseCode":"0","UrbanRural":1,"City":"Other","State":"NC","Bank":"BBCN BANK","BankState":"CA","RevLineCr":"N","naics_first_two":"45","same_state":false}`,
		12+i%300, 1+i%50)
}

// ID returns application i's Nats-Msg-Id (and so its result id).
func ID(prefix string, i int) string { return prefix + "-" + strconv.Itoa(i) }

// Publisher publishes applications to JetStream the way a careful producer
// does: every message carries a Nats-Msg-Id, and a publish that fails or
// times out (server restarting, node lost) is retried with the same id
// until JetStream acknowledges it, so a retry cannot store it twice.
type Publisher struct {
	// JS publishes; Subject is the async input subject.
	JS      jetstream.JetStream
	Subject string
	// Prefix makes the ids: Prefix-0, Prefix-1, ...
	Prefix string
	// Rate caps publishes per second (0: as fast as acks come back).
	Rate int
	// Parallel is the number of publishing goroutines (default 16).
	Parallel int

	published atomic.Int64
	retries   atomic.Int64
}

// Published returns how many applications were acknowledged so far.
func (p *Publisher) Published() int64 { return p.published.Load() }

// Retries returns how many publish attempts failed and were retried.
func (p *Publisher) Retries() int64 { return p.retries.Load() }

// Run publishes applications [0, n) and returns when all are acknowledged
// or ctx ends.
func (p *Publisher) Run(ctx context.Context, n int) error {
	par := p.Parallel
	if par <= 0 {
		par = 16
	}
	next := make(chan int)
	var tick <-chan time.Time
	if p.Rate > 0 {
		tk := time.NewTicker(time.Second / time.Duration(p.Rate))
		defer tk.Stop()
		tick = tk.C
	}
	var wg sync.WaitGroup
	errs := make(chan error, par)
	for range par {
		wg.Go(func() {
			for i := range next {
				if err := p.one(ctx, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for i := range n {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				err = ctx.Err()
				break feed
			}
		}
		select {
		case next <- i:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

func (p *Publisher) one(ctx context.Context, i int) error {
	msg := &nats.Msg{Subject: p.Subject, Data: App(i), Header: nats.Header{"Nats-Msg-Id": []string{ID(p.Prefix, i)}}}
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := p.JS.PublishMsg(actx, msg)
		cancel()
		if err == nil {
			p.published.Add(1)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("publish %s: %w", ID(p.Prefix, i), ctx.Err())
		}
		p.retries.Add(1)
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("publish %s: %w", ID(p.Prefix, i), ctx.Err())
		}
	}
}

// StreamMsgs returns how many messages stream holds now, or -1 when the
// server cannot say (restarting, no leader).
func StreamMsgs(js jetstream.JetStream, stream string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return -1
	}
	return int64(s.CachedInfo().State.Msgs)
}

// Result is the part of a result body the tests check.
type Result struct {
	ID    string   `json:"id"`
	Proba *float64 `json:"default_proba"`
	Error *struct {
		Code   string            `json:"code"`
		Fields map[string]string `json:"fields"`
	} `json:"error"`
}

// Tally counts what a stream holds, by id.
type Tally struct {
	// Count maps an id to how many stored messages carry it.
	Count map[string]int
	// Results maps an id to its (last) decoded result.
	Results map[string]Result
	// Headers maps an id to the headers of its (last) message.
	Headers map[string]nats.Header
	// Total is the number of messages read.
	Total int
}

// Duplicates returns the ids stored more than once.
func (t Tally) Duplicates() []string {
	var d []string
	for id, n := range t.Count {
		if n > 1 {
			d = append(d, id)
		}
	}
	return d
}

// ReadStream reads every message stream holds with an ordered consumer and
// tallies them by the id in their JSON body, or by their Nats-Msg-Id
// header when byHeader is set (dead letters carry the original payload).
func ReadStream(ctx context.Context, js jetstream.JetStream, stream string, byHeader bool) (Tally, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return Tally{}, fmt.Errorf("stream %s: %w", stream, err)
	}
	want := s.CachedInfo().State.Msgs
	tally := Tally{Count: map[string]int{}, Results: map[string]Result{}, Headers: map[string]nats.Header{}}
	if want == 0 {
		return tally, nil
	}
	// A transient failure (a cluster electing a leader answers "no
	// responders" for a moment) restarts the read after the last message
	// read, on a new ordered consumer.
	var next uint64 = 1
	for uint64(tally.Total) < want {
		if ctx.Err() != nil {
			return Tally{}, fmt.Errorf("read %s: %d of %d: %w", stream, tally.Total, want, ctx.Err())
		}
		c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: next})
		if err == nil {
			err = readBatches(c, &tally, &next, want, byHeader, stream)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoHeartbeat) {
			return Tally{}, err
		}
		time.Sleep(200 * time.Millisecond) // then a new consumer: the cluster settles
	}
	return tally, nil
}

// readBatches fetches from c into tally until it holds want messages,
// keeping next at the stream sequence after the last message read.
func readBatches(c jetstream.Consumer, tally *Tally, next *uint64, want uint64, byHeader bool, stream string) error {
	for uint64(tally.Total) < want {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("fetch from %s: %w", stream, err)
		}
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("%s message %d: %w", stream, tally.Total+1, err)
			}
			*next = meta.Sequence.Stream + 1
			tally.Total++
			var id string
			if byHeader {
				id = m.Headers().Get("Nats-Msg-Id")
			} else {
				var r Result
				if err := json.Unmarshal(m.Data(), &r); err != nil {
					return fmt.Errorf("%s message %d: %w", stream, tally.Total, err)
				}
				id = r.ID
				tally.Results[id] = r
			}
			tally.Count[id]++
			tally.Headers[id] = m.Headers()
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("fetch from %s: %w", stream, err)
		}
	}
	return nil
}

// ParquetIDs reads the id column of every scores-*.parquet file in dir
// and counts each id.
func ParquetIDs(dir string) (map[string]int, int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "scores-*.parquet"))
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", dir, err)
	}
	type row struct {
		ID string `parquet:"id"`
	}
	ids := map[string]int{}
	total := 0
	for _, f := range files {
		rows, err := parquet.ReadFile[row](f)
		if err != nil {
			return nil, 0, fmt.Errorf("read %s: %w", f, err)
		}
		for _, r := range rows {
			ids[r.ID]++
			total++
		}
	}
	return ids, total, nil
}

// ConsumerState returns the durable consumer's pending (not yet delivered)
// and ack-pending counts.
func ConsumerState(js jetstream.JetStream, stream, consumer string) (pending uint64, ackPending int, err error) {
	info, err := ConsumerInfo(js, stream, consumer)
	if err != nil {
		return 0, 0, err
	}
	return info.NumPending, info.NumAckPending, nil
}

// ConsumerInfo returns the durable consumer's current state.
func ConsumerInfo(js jetstream.JetStream, stream, consumer string) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, consumer) // looks the consumer up: its info is current
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", consumer, stream, err)
	}
	return c.CachedInfo(), nil
}

// WaitStream polls stream until it holds want messages, logging progress
// every few seconds; it fails the test when timeout passes.
func WaitStream(t testing.TB, js jetstream.JetStream, stream string, want int64, timeout time.Duration) time.Duration {
	t.Helper()
	last := time.Now()
	return Eventually(t, timeout, fmt.Sprintf("%s holds %d messages", stream, want), func() bool {
		n := StreamMsgs(js, stream)
		if time.Since(last) > 5*time.Second {
			t.Logf("%s: %d of %d", stream, n, want)
			last = time.Now()
		}
		return n >= want
	})
}
