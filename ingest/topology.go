package ingest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// StreamConfig configures the input stream (configuration keys stream.*).
// Replicas and Duplicates apply to all three streams.
type StreamConfig struct {
	// Name of the input stream, "LOANS".
	Name string `mapstructure:"name"`
	// Replicas of each stream (1 with the embedded server, 3 in a cluster).
	Replicas int `mapstructure:"replicas"`
	// Retention is "workqueue" (messages removed once acked) or "limits"
	// (kept for MaxAge, for audit and replay).
	Retention string `mapstructure:"retention"`
	// MaxAge of input messages; 0 keeps them until acked (workqueue) or
	// forever (limits).
	MaxAge time.Duration `mapstructure:"max_age"`
	// MaxBytes and MaxMsgs bound the stream; -1 is unlimited.
	MaxBytes int64 `mapstructure:"max_bytes"`
	MaxMsgs  int64 `mapstructure:"max_msgs"`
	// Discard is "new" (refuse publishes at the limit: producers see an
	// error) or "old" (drop the oldest input).
	Discard string `mapstructure:"discard"`
	// Duplicates is the dedup window of all three streams: a producer
	// that re-publishes an application with the same Nats-Msg-Id within
	// it stores it once. Results do not depend on it: they are stored once
	// per id whenever a redelivery comes (package sink).
	Duplicates time.Duration `mapstructure:"duplicates"`
}

// Subjects are the NATS subjects of the service (configuration keys subjects.*).
type Subjects struct {
	Score   string `mapstructure:"score"`
	Sync    string `mapstructure:"sync"`
	Results string `mapstructure:"results"`
	DLQ     string `mapstructure:"dlq"`
}

// OutputStream configures the results or the dead-letter stream
// (configuration keys results.* and dlq.*).
type OutputStream struct {
	Stream string        `mapstructure:"stream"`
	MaxAge time.Duration `mapstructure:"max_age"`
	// MaxBytes bounds the stream (-1: unlimited). At the limit JetStream
	// refuses new results (discard new) and the scorer holds the inputs and
	// retries, as for any results outage: nothing is dropped, and nothing
	// already stored is removed before its MaxAge.
	MaxBytes int64 `mapstructure:"max_bytes"`
}

// ConsumerConfig configures the durable pull consumer shared by every
// worker process (configuration keys consumer.*).
type ConsumerConfig struct {
	// Name is the durable name.
	Name string `mapstructure:"name"`
	// MaxDeliver bounds deliveries; after the last one times out the
	// max-deliveries advisory dead-letters the message.
	MaxDeliver int `mapstructure:"max_deliver"`
	// AckWait is the redelivery timeout (JetStream uses BackOff[0] when
	// BackOff is set, so they must then agree).
	AckWait time.Duration `mapstructure:"ack_wait"`
	// BackOff lists redelivery delays per delivery; empty uses AckWait.
	BackOff []time.Duration `mapstructure:"backoff"`
	// NakDelay is the redelivery delay after a transient failure.
	NakDelay time.Duration `mapstructure:"nak_delay"`
	// MaxAckPending bounds unacked messages across all workers.
	MaxAckPending int `mapstructure:"max_ack_pending"`
	// PullMaxMessages is how many messages a worker asks for at once, over
	// its fetches; it bounds the worker's client-side buffer.
	PullMaxMessages int `mapstructure:"pull_max_messages"`
}

// ProgressEvery is how often a message still being worked on needs an
// InProgress to hold off its redelivery: a third of the shortest
// redelivery wait (AckWait, or the smallest BackOff), at least 1 ms.
func (c ConsumerConfig) ProgressEvery() time.Duration {
	d := c.AckWait
	if len(c.BackOff) > 0 {
		d = slices.Min(c.BackOff)
	}
	return max(d/3, time.Millisecond)
}

// Topology is the whole JetStream layout: three streams and the consumer.
type Topology struct {
	Stream   StreamConfig   `mapstructure:"stream"`
	Subjects Subjects       `mapstructure:"subjects"`
	Results  OutputStream   `mapstructure:"results"`
	DLQ      OutputStream   `mapstructure:"dlq"`
	Consumer ConsumerConfig `mapstructure:"consumer"`
}

// DefaultTopology returns DESIGN.md's layout: LOANS (work queue) on
// loans.score, LOANS_SCORED on loans.scored, LOANS_DLQ on loans.dlq, the
// durable consumer "scorer".
func DefaultTopology() Topology {
	return Topology{
		Stream: StreamConfig{
			Name:       "LOANS",
			Replicas:   1,
			Retention:  "workqueue",
			MaxBytes:   1 << 30,
			MaxMsgs:    -1,
			Discard:    "new",
			Duplicates: 2 * time.Minute,
		},
		Subjects: Subjects{
			Score:   "loans.score",
			Sync:    "loans.score.sync",
			Results: "loans.scored",
			DLQ:     "loans.dlq",
		},
		// 1 GiB of results is about 3 million (352 B each on disk, and
		// 210-290 B of server memory each for the per-id subject index);
		// 256 MiB of dead letters about 300,000 (the input rides along).
		Results: OutputStream{Stream: "LOANS_SCORED", MaxAge: 7 * 24 * time.Hour, MaxBytes: 1 << 30},
		DLQ:     OutputStream{Stream: "LOANS_DLQ", MaxAge: 30 * 24 * time.Hour, MaxBytes: 256 << 20},
		Consumer: ConsumerConfig{
			Name:            "scorer",
			MaxDeliver:      5,
			AckWait:         30 * time.Second,
			NakDelay:        time.Second,
			MaxAckPending:   8192,
			PullMaxMessages: 1024,
		},
	}
}

// Validate checks each value and the cross-checks between them (BackOff
// against AckWait and MaxDeliver, subjects against each other). Errors name
// the configuration key.
func (t Topology) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(key+": "+format, args...))
	}
	s := t.Stream
	for key, name := range map[string]string{"stream.name": s.Name, "results.stream": t.Results.Stream, "dlq.stream": t.DLQ.Stream, "consumer.name": t.Consumer.Name} {
		if name == "" || strings.ContainsAny(name, ".*> \t\r\n") {
			bad(key, "%q is not a valid name (non-empty, no '.', '*', '>' or spaces)", name)
		}
	}
	if s.Name == t.Results.Stream || s.Name == t.DLQ.Stream || t.Results.Stream == t.DLQ.Stream {
		bad("stream.name", "the input, results and dlq streams need three different names (%s, %s, %s)", s.Name, t.Results.Stream, t.DLQ.Stream)
	}
	if s.Replicas < 1 || s.Replicas > 5 {
		bad("stream.replicas", "%d is outside 1..5", s.Replicas)
	}
	if _, err := retention(s.Retention); err != nil {
		bad("stream.retention", "%v", err)
	}
	if _, err := discard(s.Discard); err != nil {
		bad("stream.discard", "%v", err)
	}
	if s.MaxBytes < -1 || s.MaxBytes == 0 {
		bad("stream.max_bytes", "%d: want a positive size or -1 (unlimited)", s.MaxBytes)
	}
	for key, b := range map[string]int64{"results.max_bytes": t.Results.MaxBytes, "dlq.max_bytes": t.DLQ.MaxBytes} {
		if b < -1 || b == 0 {
			bad(key, "%d: want a positive size or -1 (unlimited)", b)
		}
	}
	if s.MaxMsgs < -1 || s.MaxMsgs == 0 {
		bad("stream.max_msgs", "%d: want a positive count or -1 (unlimited)", s.MaxMsgs)
	}
	for key, d := range map[string]time.Duration{"stream.max_age": s.MaxAge, "results.max_age": t.Results.MaxAge, "dlq.max_age": t.DLQ.MaxAge} {
		if d < 0 {
			bad(key, "%v is negative (0 means no limit)", d)
		}
		if d > 0 && d < s.Duplicates {
			bad(key, "%v is shorter than stream.duplicates %v (JetStream requires the dedup window to fit in the stream's max age)", d, s.Duplicates)
		}
	}
	if s.Duplicates <= 0 {
		bad("stream.duplicates", "%v: want a positive window", s.Duplicates)
	}
	subj := map[string]string{"subjects.score": t.Subjects.Score, "subjects.sync": t.Subjects.Sync, "subjects.results": t.Subjects.Results, "subjects.dlq": t.Subjects.DLQ}
	seen := map[string]string{}
	for key, v := range subj {
		if err := checkLiteralSubject(v); err != nil {
			bad(key, "%v", err)
			continue
		}
		if other, dup := seen[v]; dup {
			bad(key, "%q is also %s", v, other)
		}
		seen[v] = key
	}
	// Results and dead letters live on one subject per id under their
	// subjects (<results>.<id>): nothing else may be under them.
	for _, base := range []string{"subjects.results", "subjects.dlq"} {
		for key, v := range subj {
			if key != base && strings.HasPrefix(v, subj[base]+".") {
				bad(key, "%q is under %s %q, whose subjects hold one result or dead letter per id", v, base, subj[base])
			}
		}
	}
	errs = append(errs, t.Consumer.validate()...)
	return errors.Join(errs...)
}

func (c ConsumerConfig) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(key+": "+format, args...))
	}
	if c.MaxDeliver < 1 {
		bad("consumer.max_deliver", "%d: deliveries must be bounded (>= 1)", c.MaxDeliver)
	}
	if c.AckWait < time.Millisecond {
		bad("consumer.ack_wait", "%v: want at least 1ms", c.AckWait)
	}
	if c.NakDelay < 0 {
		bad("consumer.nak_delay", "%v is negative", c.NakDelay)
	}
	if c.MaxAckPending < 1 {
		bad("consumer.max_ack_pending", "%d: want >= 1", c.MaxAckPending)
	}
	if c.PullMaxMessages < 1 {
		bad("consumer.pull_max_messages", "%d: want >= 1", c.PullMaxMessages)
	}
	if len(c.BackOff) > 0 {
		for i, d := range c.BackOff {
			if d < time.Millisecond {
				bad("consumer.backoff", "value %d (%v): want at least 1ms", i, d)
			}
		}
		if c.BackOff[0] != c.AckWait {
			bad("consumer.ack_wait", "%v differs from consumer.backoff[0] %v: JetStream uses the first backoff value as the ack wait, set them equal", c.AckWait, c.BackOff[0])
		}
		if c.MaxDeliver >= 1 && len(c.BackOff) > c.MaxDeliver {
			bad("consumer.backoff", "%d values but consumer.max_deliver is %d: values after the last delivery are never used (JetStream refuses it)", len(c.BackOff), c.MaxDeliver)
		}
	}
	return errs
}

// checkLiteralSubject accepts a subject without wildcards or empty tokens.
func checkLiteralSubject(s string) error {
	if s == "" {
		return errors.New("empty subject")
	}
	if strings.HasPrefix(s, "$") {
		return fmt.Errorf("%q: subjects starting with '$' are reserved for the system", s)
	}
	if !subjectSafe(s) {
		return fmt.Errorf("%q: subjects may not hold spaces or control characters", s)
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return fmt.Errorf("%q is not a literal subject (empty tokens, wildcards and spaces are not allowed)", s)
		}
	}
	return nil
}
