package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/nats-io/nats.go/jetstream"
)

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, nc := testkit.StartNATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestSetupCreatesThenKeeps(t *testing.T) {
	ctx := context.Background()
	js := newJS(t)
	topo := DefaultTopology()
	if _, err := Setup(ctx, js, topo, discardLog()); err != nil {
		t.Fatal(err)
	}
	// Results and dead letters: one subject per id under the base, which
	// stays captured for scorers of an older version.
	for name, subjects := range map[string][]string{"LOANS": {"loans.score"}, "LOANS_SCORED": {"loans.scored", "loans.scored.>"}, "LOANS_DLQ": {"loans.dlq", "loans.dlq.>"}} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		cfg := s.CachedInfo().Config
		if !slices.Equal(cfg.Subjects, subjects) || cfg.Storage != jetstream.FileStorage || cfg.Duplicates != 2*time.Minute {
			t.Errorf("stream %s: subjects %v storage %v duplicates %v", name, cfg.Subjects, cfg.Storage, cfg.Duplicates)
		}
	}
	s, _ := js.Stream(ctx, "LOANS")
	if got := s.CachedInfo().Config.Retention; got != jetstream.WorkQueuePolicy {
		t.Errorf("LOANS retention %v, want work queue", got)
	}
	c, err := js.Consumer(ctx, "LOANS", "scorer")
	if err != nil {
		t.Fatal(err)
	}
	cc := c.CachedInfo().Config
	if cc.AckPolicy != jetstream.AckExplicitPolicy || cc.MaxDeliver != 5 || cc.AckWait != 30*time.Second || cc.FilterSubject != "loans.score" || cc.MaxAckPending != 8192 {
		t.Errorf("consumer config %+v", cc)
	}

	// A second start with a changed updatable value updates in place and
	// keeps the stored messages.
	if _, err := js.Publish(ctx, "loans.score", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	topo.Stream.MaxMsgs = 1000
	topo.Consumer.MaxDeliver = 3
	topo.Consumer.AckWait = 10 * time.Second
	if _, err := Setup(ctx, js, topo, discardLog()); err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxMsgs != 1000 || info.State.Msgs != 1 {
		t.Errorf("after update: max_msgs %d, msgs %d; want 1000 and 1", info.Config.MaxMsgs, info.State.Msgs)
	}
	ci, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Config.MaxDeliver != 3 || ci.Config.AckWait != 10*time.Second {
		t.Errorf("consumer after update: max_deliver %d ack_wait %v", ci.Config.MaxDeliver, ci.Config.AckWait)
	}
}

func TestSetupRefusesWhatJetStreamCannotChange(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		pre   func(js jetstream.JetStream) error
		field string
	}{
		{"retention", func(js jetstream.JetStream) error {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOANS", Subjects: []string{"loans.score"}, Retention: jetstream.LimitsPolicy})
			return err
		}, "retention"},
		{"storage", func(js jetstream.JetStream) error {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOANS_SCORED", Subjects: []string{"loans.scored"}, Storage: jetstream.MemoryStorage})
			return err
		}, "storage"},
		{"ack_policy", func(js jetstream.JetStream) error {
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOANS", Subjects: []string{"loans.score"}, Retention: jetstream.LimitsPolicy}); err != nil {
				return err
			}
			_, err := js.CreateConsumer(ctx, "LOANS", jetstream.ConsumerConfig{Durable: "scorer", AckPolicy: jetstream.AckAllPolicy})
			return err
		}, "ack_policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			js := newJS(t)
			if err := tc.pre(js); err != nil {
				t.Fatal(err)
			}
			topo := DefaultTopology()
			if tc.name == "ack_policy" {
				topo.Stream.Retention = "limits" // a work queue requires explicit acks
			}
			_, err := Setup(ctx, js, topo, discardLog())
			var mm *MismatchError
			if !errors.As(err, &mm) || mm.Field != tc.field {
				t.Fatalf("Setup = %v, want a MismatchError on %s", err, tc.field)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name the field", err)
			}
			if tc.name == "retention" {
				// Never deleted: the user's stream is still there, unchanged.
				s, err := js.Stream(ctx, "LOANS")
				if err != nil || s.CachedInfo().Config.Retention != jetstream.LimitsPolicy {
					t.Errorf("LOANS changed or gone: %v", err)
				}
			}
		})
	}
}

func TestSetupRefusesCapturedSyncSubject(t *testing.T) {
	ctx := context.Background()
	js := newJS(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OOPS", Subjects: []string{"loans.score.>"}}); err != nil {
		t.Fatal(err)
	}
	_, err := Setup(ctx, js, DefaultTopology(), discardLog())
	if !errors.Is(err, ErrSubjectCaptured) || !strings.Contains(err.Error(), "OOPS") {
		t.Fatalf("Setup = %v, want ErrSubjectCaptured naming OOPS", err)
	}
}

func TestTopologyValidate(t *testing.T) {
	if err := DefaultTopology().Validate(); err != nil {
		t.Fatalf("default topology: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Topology)
		key    string
	}{
		{"unbounded deliveries", func(t *Topology) { t.Consumer.MaxDeliver = -1 }, "consumer.max_deliver"},
		{"backoff first differs", func(t *Topology) { t.Consumer.BackOff = []time.Duration{time.Second, 5 * time.Second} }, "consumer.ack_wait"},
		{"backoff longer than deliveries", func(t *Topology) {
			t.Consumer.AckWait = time.Second
			t.Consumer.BackOff = []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
			t.Consumer.MaxDeliver = 2
		}, "consumer.backoff"},
		{"duplicates zero", func(t *Topology) { t.Stream.Duplicates = 0 }, "stream.duplicates"},
		{"retention", func(t *Topology) { t.Stream.Retention = "interest" }, "stream.retention"},
		{"wildcard subject", func(t *Topology) { t.Subjects.Score = "loans.*" }, "subjects.score"},
		{"system subject", func(t *Topology) { t.Subjects.Results = "$JS.x" }, "subjects.results"},
		{"same subjects", func(t *Topology) { t.Subjects.DLQ = "loans.scored" }, "subjects."},
		// <results>.<id> holds one result per id: nothing else may live there.
		{"dlq under results", func(t *Topology) { t.Subjects.DLQ = "loans.scored.dlq" }, "subjects.dlq"},
		{"score under dlq", func(t *Topology) { t.Subjects.Score = "loans.dlq.in" }, "subjects.score"},
		{"max age under dedup window", func(t *Topology) { t.Results.MaxAge = time.Minute }, "results.max_age"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo := DefaultTopology()
			tc.change(&topo)
			err := topo.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.key)
			}
		})
	}
	ok := DefaultTopology()
	ok.Consumer.AckWait = time.Second
	ok.Consumer.BackOff = []time.Duration{time.Second, 10 * time.Second, 30 * time.Second}
	ok.Consumer.MaxDeliver = 5
	// A dedup window shorter than the redeliveries take is fine: results
	// are stored once per id whatever the window.
	ok.Stream.Duplicates = 10 * time.Second
	if err := ok.Validate(); err != nil {
		t.Errorf("backoff longer than the dedup window: %v", err)
	}
}

// TestSetupNamesAMaxBytesTheServerCannotHold: JetStream reserves each
// stream's max_bytes at creation; a server with 8 MiB of file store takes
// the input stream's 4 MiB and refuses the results stream's 1 GiB. The
// error names the key to change (before: "insufficient storage resources
// available" alone). The default LOANS_SCORED and LOANS_DLQ are bounded,
// with discard new.
func TestSetupNamesAMaxBytesTheServerCannotHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	opts := testkit.NATSOptions(t.TempDir())
	opts.JetStreamMaxStore = 8 << 20
	srv := testkit.StartNATSWith(t, opts)
	js, err := jetstream.New(testkit.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	topo := DefaultTopology()
	topo.Stream.MaxBytes = 4 << 20
	_, err = Setup(ctx, js, topo, discardLog())
	if err == nil || !strings.Contains(err.Error(), "results.max_bytes 1073741824 does not fit") {
		t.Fatalf("Setup: %v, want an error naming results.max_bytes", err)
	}

	topo.Results.MaxBytes, topo.DLQ.MaxBytes = 1<<20, 1<<20
	if _, err := Setup(ctx, js, topo, discardLog()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"LOANS_SCORED", "LOANS_DLQ"} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if c := s.CachedInfo().Config; c.MaxBytes != 1<<20 || c.Discard != jetstream.DiscardNew {
			t.Errorf("%s: max_bytes %d, discard %v; want 1 MiB, discard new", name, c.MaxBytes, c.Discard)
		}
	}
}

// TestSetupBoundsAnExistingUnboundedResultsStream: a deployment whose
// LOANS_SCORED was created unbounded with discard old (before
// results.max_bytes) gets the limit and discard new at the next start,
// and keeps what it stored.
func TestSetupBoundsAnExistingUnboundedResultsStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	js := newJS(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOANS_SCORED", Subjects: []string{"loans.scored", "loans.scored.>"},
		MaxBytes: -1, Discard: jetstream.DiscardOld, MaxAge: 7 * 24 * time.Hour, Duplicates: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "loans.scored", []byte(`{"id":"old"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := Setup(ctx, js, DefaultTopology(), discardLog()); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, "LOANS_SCORED")
	if err != nil {
		t.Fatal(err)
	}
	info := s.CachedInfo()
	if info.Config.MaxBytes != 1<<30 || info.Config.Discard != jetstream.DiscardNew || info.State.Msgs != 1 {
		t.Errorf("after Setup: max_bytes %d, discard %v, %d messages; want 1 GiB, discard new, the 1 stored kept",
			info.Config.MaxBytes, info.Config.Discard, info.State.Msgs)
	}
}
