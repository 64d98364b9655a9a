package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// MaxDeliveriesSubject returns the subject of JetStream's advisory for a
// message of stream whose last delivery to consumer timed out.
func MaxDeliveriesSubject(stream, consumer string) string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream + "." + consumer
}

// Setup creates the three streams and the durable consumer when missing,
// updates what JetStream can update, and fails with a *MismatchError
// naming the field for a difference it cannot change (storage, retention
// to or from work-queue, ack policy, a push consumer). It never deletes or
// recreates anything. It also fails with ErrSubjectCaptured when a stream
// captures the sync subject.
func Setup(ctx context.Context, js jetstream.JetStream, t Topology, log *slog.Logger) (jetstream.Consumer, error) {
	ret, err := retention(t.Stream.Retention)
	if err != nil {
		return nil, fmt.Errorf("stream.retention: %w", err)
	}
	disc, err := discard(t.Stream.Discard)
	if err != nil {
		return nil, fmt.Errorf("stream.discard: %w", err)
	}
	input := jetstream.StreamConfig{
		Name:        t.Stream.Name,
		Description: "loan applications to score (scorer input)",
		Subjects:    []string{t.Subjects.Score},
		Retention:   ret,
		MaxAge:      t.Stream.MaxAge,
		MaxBytes:    t.Stream.MaxBytes,
		MaxMsgs:     t.Stream.MaxMsgs,
		Discard:     disc,
		Storage:     jetstream.FileStorage,
		Replicas:    t.Stream.Replicas,
		Duplicates:  t.Stream.Duplicates,
	}
	// Results and dead letters are stored one subject per id under their
	// base subject (package sink); the base itself stays captured so that
	// scorers of an older version keep storing during a rolling upgrade.
	//
	// They are bounded in bytes with discard new: at the limit a publish
	// fails, which the scorer treats as any results outage (it holds the
	// input and retries); discard old would drop stored results, some
	// perhaps not yet read by the Parquet sink.
	output := func(o OutputStream, subject, what string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        o.Stream,
			Description: what,
			Subjects:    []string{subject, subject + ".>"},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      o.MaxAge,
			MaxBytes:    o.MaxBytes,
			MaxMsgs:     -1,
			Discard:     jetstream.DiscardNew,
			Storage:     jetstream.FileStorage,
			Replicas:    t.Stream.Replicas,
			Duplicates:  t.Stream.Duplicates,
		}
	}
	for _, s := range []struct {
		cfg jetstream.StreamConfig
		key string // the configuration key of its max_bytes
	}{
		{input, "stream.max_bytes"},
		{output(t.Results, t.Subjects.Results, "scorer results"), "results.max_bytes"},
		{output(t.DLQ, t.Subjects.DLQ, "scorer dead letters"), "dlq.max_bytes"},
	} {
		if err := ensureStream(ctx, js, s.cfg, log); err != nil {
			return nil, namedStorageError(err, s.key, s.cfg.MaxBytes)
		}
	}
	if err := checkNotCaptured(ctx, js, t.Subjects.Sync); err != nil {
		return nil, err
	}
	return ensureConsumer(ctx, js, t, log)
}

// namedStorageError names the key when JetStream refused a stream because
// its max_bytes does not fit the storage the server (or account) has left:
// each stream's max_bytes is reserved in full when it is created.
func namedStorageError(err error, key string, maxBytes int64) error {
	var api *jetstream.APIError
	if !errors.As(err, &api) || (api.ErrorCode != errCodeStorageExceeded && api.ErrorCode != errCodeInsufficientResources) {
		return err
	}
	return fmt.Errorf("%s %d does not fit the JetStream storage left on the server (each stream reserves its max_bytes in full; "+
		"stream.max_bytes, results.max_bytes and dlq.max_bytes together must fit the server's max_file_store, by default 75%% "+
		"of the free disk at its start, and the account's limit): lower %s or give JetStream more room: %w", key, maxBytes, key, err)
}

// JetStream's error codes for a stream whose max_bytes cannot be reserved.
const (
	errCodeStorageExceeded       jetstream.ErrorCode = 10047 // insufficient storage resources available
	errCodeInsufficientResources jetstream.ErrorCode = 10023 // insufficient resources
)

// ensureStream creates cfg's stream or brings an existing one in line.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, log *slog.Logger) error {
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create stream %s on %v: %w", cfg.Name, cfg.Subjects, err)
		}
		log.Info("created stream", "stream", cfg.Name, "subjects", cfg.Subjects, "retention", cfg.Retention.String())
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up stream %s: %w", cfg.Name, err)
	}
	have := s.CachedInfo().Config
	if have.Storage != cfg.Storage {
		return &MismatchError{Kind: "stream", Name: cfg.Name, Field: "storage", Have: have.Storage.String(), Want: cfg.Storage.String()}
	}
	if have.Retention != cfg.Retention && (have.Retention == jetstream.WorkQueuePolicy || cfg.Retention == jetstream.WorkQueuePolicy) {
		return &MismatchError{Kind: "stream", Name: cfg.Name, Field: "retention", Have: have.Retention.String(), Want: cfg.Retention.String()}
	}
	want := have // keep what the scorer does not manage (metadata, placement, ...)
	want.Subjects = cfg.Subjects
	want.Retention = cfg.Retention
	want.MaxAge = cfg.MaxAge
	want.MaxBytes = cfg.MaxBytes
	want.MaxMsgs = cfg.MaxMsgs
	want.Discard = cfg.Discard
	want.Replicas = cfg.Replicas
	want.Duplicates = cfg.Duplicates
	defer warnNearLimit(log, want, s.CachedInfo().State)
	if streamEqual(have, want) {
		log.Debug("stream is up to date", "stream", cfg.Name)
		return nil
	}
	if _, err := js.UpdateStream(ctx, want); err != nil {
		return fmt.Errorf("update stream %s: %w", cfg.Name, err)
	}
	log.Info("updated stream", "stream", cfg.Name, "subjects", want.Subjects, "max_bytes", want.MaxBytes, "discard", want.Discard.String())
	return nil
}

// warnNearLimit logs an error when a discard-new stream holds 90% of its
// max_bytes or more at start: it refuses publishes at the limit (the
// scorer holds results and retries) until messages expire or the limit is
// raised. A limit lowered below what a stream holds removes nothing
// (discard new), which is what upgrading to bounded result streams does
// to a large one.
func warnNearLimit(log *slog.Logger, cfg jetstream.StreamConfig, st jetstream.StreamState) {
	if cfg.Discard != jetstream.DiscardNew || cfg.MaxBytes <= 0 || st.Bytes < uint64(cfg.MaxBytes)/10*9 {
		return
	}
	log.Error("stream at or near its max_bytes: publishes to it fail at the limit (the scorer holds results and retries) "+
		"until messages expire after max_age or the limit is raised", "stream", cfg.Name, "bytes", st.Bytes,
		"max_bytes", cfg.MaxBytes, "max_age", cfg.MaxAge)
}

func streamEqual(a, b jetstream.StreamConfig) bool {
	return slices.Equal(a.Subjects, b.Subjects) && a.Retention == b.Retention && a.MaxAge == b.MaxAge &&
		a.MaxBytes == b.MaxBytes && a.MaxMsgs == b.MaxMsgs && a.Discard == b.Discard &&
		a.Replicas == b.Replicas && a.Duplicates == b.Duplicates
}

// checkNotCaptured fails when a stream listens on the sync subject.
func checkNotCaptured(ctx context.Context, js jetstream.JetStream, subject string) error {
	name, err := js.StreamNameBySubject(ctx, subject)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check which stream captures %s: %w", subject, err)
	}
	return fmt.Errorf("subjects.sync %s: stream %s: %w (requests would get a publish ack instead of a score)", subject, name, ErrSubjectCaptured)
}

// ensureConsumer creates or updates the durable pull consumer.
func ensureConsumer(ctx context.Context, js jetstream.JetStream, t Topology, log *slog.Logger) (jetstream.Consumer, error) {
	c := t.Consumer
	cfg := jetstream.ConsumerConfig{
		Durable:       c.Name,
		Description:   "scorer workers (shared by every process)",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.MaxDeliver,
		BackOff:       c.BackOff,
		FilterSubject: t.Subjects.Score,
		MaxAckPending: c.MaxAckPending,
		Replicas:      0, // follow the stream
	}
	existing, err := js.Consumer(ctx, t.Stream.Name, c.Name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		cons, err := js.CreateConsumer(ctx, t.Stream.Name, cfg)
		if err != nil {
			return nil, fmt.Errorf("create consumer %s on stream %s: %w", c.Name, t.Stream.Name, err)
		}
		log.Info("created consumer", "stream", t.Stream.Name, "consumer", c.Name)
		return cons, nil
	case err != nil:
		return nil, fmt.Errorf("look up consumer %s on stream %s: %w", c.Name, t.Stream.Name, err)
	}
	have := existing.CachedInfo().Config
	if have.AckPolicy != jetstream.AckExplicitPolicy {
		return nil, &MismatchError{Kind: "consumer", Name: c.Name, Field: "ack_policy", Have: have.AckPolicy.String(), Want: jetstream.AckExplicitPolicy.String()}
	}
	if have.DeliverSubject != "" {
		return nil, &MismatchError{Kind: "consumer", Name: c.Name, Field: "deliver_subject", Have: have.DeliverSubject + " (push)", Want: "none (pull)"}
	}
	if have.DeliverPolicy != cfg.DeliverPolicy {
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = have.DeliverPolicy, have.OptStartSeq, have.OptStartTime
	}
	if consumerEqual(have, cfg) {
		log.Debug("consumer is up to date", "consumer", c.Name)
		return existing, nil
	}
	cons, err := js.UpdateConsumer(ctx, t.Stream.Name, cfg)
	if err != nil {
		return nil, fmt.Errorf("update consumer %s on stream %s: %w", c.Name, t.Stream.Name, err)
	}
	log.Info("updated consumer", "stream", t.Stream.Name, "consumer", c.Name)
	return cons, nil
}

func consumerEqual(a, b jetstream.ConsumerConfig) bool {
	ackWait := b.AckWait
	if len(b.BackOff) > 0 {
		ackWait = b.BackOff[0]
	}
	return a.AckWait == ackWait && a.MaxDeliver == b.MaxDeliver && slices.Equal(a.BackOff, b.BackOff) &&
		a.FilterSubject == b.FilterSubject && len(a.FilterSubjects) == 0 && a.MaxAckPending == b.MaxAckPending
}

func retention(s string) (jetstream.RetentionPolicy, error) {
	switch s {
	case "workqueue":
		return jetstream.WorkQueuePolicy, nil
	case "limits":
		return jetstream.LimitsPolicy, nil
	}
	return 0, fmt.Errorf("%q: want workqueue or limits", s)
}

func discard(s string) (jetstream.DiscardPolicy, error) {
	switch s {
	case "new":
		return jetstream.DiscardNew, nil
	case "old":
		return jetstream.DiscardOld, nil
	}
	return 0, fmt.Errorf("%q: want new or old", s)
}
