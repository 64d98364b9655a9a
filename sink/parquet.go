package sink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/loan-scorer/loan-scorer/internal/buildinfo"
)

// ParquetConfig configures the Parquet results sink (configuration keys
// sink.parquet.*).
type ParquetConfig struct {
	// Dir is the directory of the files; empty disables the sink.
	Dir string `mapstructure:"dir"`
	// Stream is the results stream to read (required). Not a key of its
	// own: inside `scorer serve` it is results.stream; `scorer sink parquet`
	// takes --stream.
	Stream string `mapstructure:"-"`
	// Consumer is the sink's durable consumer; empty derives
	// "parquet-sink-<first 8 hex of sha256(host:absolute dir)>", one per
	// directory and host.
	Consumer string `mapstructure:"consumer"`
	// MaxRows closes a file once it holds this many results.
	MaxRows int `mapstructure:"max_rows"`
	// MaxAge closes a file this long after its first result.
	MaxAge time.Duration `mapstructure:"max_age"`
	// RowGroupRows bounds the rows of one Parquet row group.
	RowGroupRows int `mapstructure:"row_group_rows"`
	// Compression of the column pages: zstd, snappy, gzip or none.
	Compression string `mapstructure:"compression"`
	// AckWait is the consumer's redelivery timeout. Results redelivered
	// while a file is open are recognised by their sequence and skipped, so
	// it only needs to exceed MaxAge to avoid needless traffic.
	AckWait time.Duration `mapstructure:"ack_wait"`
	// FetchBatch is how many results one pull asks for.
	FetchBatch int `mapstructure:"fetch_batch"`
}

// DefaultParquetConfig returns the documented defaults: disabled (no dir),
// files of at most 100,000 results or one minute, row groups of 128Ki
// rows, zstd. Stream has no default here: it is the topology's results
// stream (ingest.Topology), which the caller copies in.
func DefaultParquetConfig() ParquetConfig {
	return ParquetConfig{
		MaxRows:      100_000,
		MaxAge:       time.Minute,
		RowGroupRows: 128 * 1024,
		Compression:  "zstd",
		AckWait:      2 * time.Minute,
		FetchBatch:   1024,
	}
}

// Validate reports an unusable setting, named by its configuration key. An
// empty Dir is valid (the sink is off).
func (c ParquetConfig) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("sink.parquet."+key+": "+format, args...))
	}
	if c.MaxRows < 1 || c.MaxRows > 10_000_000 {
		bad("max_rows", "%d is outside 1..10000000", c.MaxRows)
	}
	if c.MaxAge <= 0 {
		bad("max_age", "%v, want a positive duration", c.MaxAge)
	}
	if c.RowGroupRows < 1 {
		bad("row_group_rows", "%d, want at least 1", c.RowGroupRows)
	}
	if _, err := Codec(c.Compression); err != nil {
		bad("compression", "%v", err)
	}
	if c.AckWait <= c.MaxAge {
		bad("ack_wait", "%v must exceed max_age (%v)", c.AckWait, c.MaxAge)
	}
	if c.FetchBatch < 1 || c.FetchBatch > 100_000 {
		bad("fetch_batch", "%d is outside 1..100000", c.FetchBatch)
	}
	return errors.Join(errs...)
}

// Codec returns a parquet-go codec for a compression name: zstd, snappy,
// gzip or none. Each call returns a codec of its own (zstd keeps its
// encoder for the codec's life: see zstdCodec).
func Codec(name string) (compress.Codec, error) {
	switch name {
	case "zstd":
		return &zstdCodec{}, nil
	case "snappy":
		return &parquet.Snappy, nil
	case "gzip":
		return &parquet.Gzip, nil
	case "none", "uncompressed":
		return &parquet.Uncompressed, nil
	}
	return nil, fmt.Errorf("unknown compression %q (want zstd, snappy, gzip or none)", name)
}

// WriterOptions returns the parquet-go options every file of the project
// uses: data page v1 and bounded row groups (older readers), the codec,
// and created_by "loan-scorer <what> version <module version> (build
// <revision>)" from the binary's build information
// (buildinfo.Info.CreatedBy), which Parquet readers parse as application,
// version and build. (parquet.CreatedBy leaves out the space before
// "(build".)
func WriterOptions(codec compress.Codec, rowGroupRows int, what string) []parquet.WriterOption {
	return []parquet.WriterOption{
		parquet.DataPageVersion(1),
		parquet.MaxRowsPerRowGroup(int64(rowGroupRows)),
		parquet.Compression(codec),
		&parquet.WriterConfig{CreatedBy: buildinfo.Read().CreatedBy(what)},
	}
}

// ParquetOptions are the sink's collaborators.
type ParquetOptions struct {
	// Log receives commits and problems; nil uses slog.Default().
	Log *slog.Logger
	// Crash, when set, is called with each crash point a commit passes
	// (FailAfterWrite, ...): a test's hook to end the process there. Nil in
	// production.
	Crash func(point string)
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// Committed, when set, is called after each file is committed and
	// acknowledged, with its path and row count (metrics, tests).
	Committed func(path string, rows int)
	// Recovered, when set, is called after each gap recovery: deliveries
	// went missing, the sink committed what followed on and recreated its
	// consumer (metrics).
	Recovered func()
	// Restarted, when set, is called each time Serve starts the sink again
	// after a transient failure (metrics).
	Restarted func()
	// ReadingChanged, when set, is called with true when a run starts
	// reading and with false when it ends (metrics; see Reading).
	ReadingChanged func(reading bool)
}

// Parquet is the exactly-once sink from the results stream into rolling
// Parquet files. Results are read in stream order through the sink's own
// durable consumer and written to scores-<first>-<last>.parquet; a file is
// written under a temporary name, fsynced, renamed, the directory fsynced,
// and only then are its messages acknowledged (ack policy all: one ack for
// the last sequence). The file names are the record of what is committed:
// at start the sink removes stale temporary files, reads the highest
// committed sequence from the names and (re)creates its consumer to start
// right after it, so whatever a crash interrupted is written again, once.
//
// A file only ever holds what follows on from the committed files: every
// delivery's consumer sequence must be the one after the previous
// delivery's (see loop.handle). A delivery lost on the way (a pull inbox
// that dropped messages, a consumer reset or rolled back by a broker
// restart) breaks that chain; the sink then commits what followed on,
// recreates its consumer after it and carries on (a gap recovery), so the
// ack of a file never covers a result the file lacks.
type Parquet struct {
	cfg   ParquetConfig
	js    jetstream.JetStream
	opts  ParquetOptions
	dir   string
	name  string
	wopts []parquet.WriterOption
	log   *slog.Logger
	now   func() time.Time

	// runCtx ends (stopRun) at Stop; runDone closes when Run returns.
	runCtx  context.Context
	stopRun context.CancelFunc
	runDone chan struct{}

	recoveries atomic.Int64 // gap recoveries since NewParquet
	restarts   atomic.Int64 // restarts by Serve since NewParquet
	reading    atomic.Bool  // a run has its consumer and reads (Reading)
	gapLog     limitedLog   // gap recovery warnings, rate-limited
}

// NewParquet returns a sink over js. cfg.Dir must be set; it is created
// when missing.
func NewParquet(js jetstream.JetStream, cfg ParquetConfig, opts ParquetOptions) (*Parquet, error) {
	if cfg.Dir == "" {
		return nil, errors.New("sink.parquet.dir: must be set to run the Parquet sink")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("sink.parquet.dir: %w", err)
	}
	if cfg.Stream == "" {
		return nil, errors.New("parquet sink: no results stream to read (ParquetConfig.Stream)")
	}
	codec, _ := Codec(cfg.Compression)
	p := &Parquet{cfg: cfg, js: js, opts: opts, dir: dir, name: cfg.Consumer,
		wopts: WriterOptions(codec, cfg.RowGroupRows, "sink"), log: opts.Log, now: opts.Now,
		runDone: make(chan struct{})}
	p.runCtx, p.stopRun = context.WithCancel(context.Background())
	if p.name == "" {
		p.name = ConsumerName(dir)
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// ConsumerName returns the default durable consumer name of the sink
// writing to the absolute directory dir on this host: replicas that mount
// their own volume at the same path get consumers of their own.
func ConsumerName(dir string) string {
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte(host + ":" + dir))
	return "parquet-sink-" + hex.EncodeToString(sum[:4])
}

// Dir returns the absolute directory of the files.
func (p *Parquet) Dir() string { return p.dir }

// Consumer returns the durable consumer's name.
func (p *Parquet) Consumer() string { return p.name }

// GapRecoveries returns how many gap recoveries the sink made since it was
// created (see Parquet).
func (p *Parquet) GapRecoveries() int64 { return p.recoveries.Load() }

// Restarts returns how many times Serve started the sink again after a
// transient failure.
func (p *Parquet) Restarts() int64 { return p.restarts.Load() }

// Reading reports whether the sink reads the stream now: a run has created
// its consumer and has not ended (false before the start, while Serve waits
// to start again after a failure, and after the stop). Readiness probes
// report it.
func (p *Parquet) Reading() bool { return p.reading.Load() }

// RunOnce writes files until ctx ends, then commits the open file and
// returns nil; it returns early with an error when the directory, the files
// or JetStream fail (NATS lost, a missed heartbeat, the consumer deleted).
// After it returns, RunOnce may be called again (it resumes from the files,
// like a restart); never twice at once. Serve is RunOnce started again after
// each transient failure.
func (p *Parquet) RunOnce(ctx context.Context) error { return p.run(ctx, nil) }

// run is RunOnce; started, when set, is called once the consumer exists (the
// sink is reading again).
func (p *Parquet) run(ctx context.Context, started func()) error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return fmt.Errorf("parquet sink: %w", err)
	}
	unlock, err := lockDir(p.dir)
	if err != nil {
		return fmt.Errorf("parquet sink: %w", err)
	}
	defer unlock()
	committed, removed, err := scanDir(p.dir)
	if err != nil {
		return fmt.Errorf("parquet sink: %w", err)
	}
	cons, start, err := p.consumer(ctx, committed, true)
	if err != nil {
		return fmt.Errorf("parquet sink: %w", err)
	}
	p.log.Info("parquet sink started", "dir", p.dir, "consumer", p.name, "committed_seq", committed,
		"start_seq", start, "stale_tmp_removed", removed)
	p.setReading(true)
	defer p.setReading(false)
	if started != nil {
		started()
	}
	l := &loop{p: p, cons: cons, next: 1, committed: start - 1}
	return l.run(ctx)
}

// consumer (re)creates the durable consumer so that it delivers from the
// first sequence not committed, with ack policy all and unlimited
// deliveries. What was delivered before and not committed is delivered
// again at once, instead of after ack_wait. A new consumer numbers its
// deliveries from 1, which is where loop.next starts.
//
// With followAckFloor (at start) the start is the later of the files'
// record and the old consumer's ack floor: files moved away by their reader
// are not written again (the sink acknowledges only committed sequences, so
// the floor is past the files only when files went away, or when an
// operator reset the consumer to skip results). A gap recovery passes false
// and starts right after what it committed: whatever broke the chain may
// have moved the floor (a consumer reset moves it to the reset's start).
func (p *Parquet) consumer(ctx context.Context, committed uint64, followAckFloor bool) (jetstream.Consumer, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := p.js.Stream(ctx, p.cfg.Stream)
	if err != nil {
		return nil, 0, fmt.Errorf("stream %s: %w", p.cfg.Stream, err)
	}
	if last := stream.CachedInfo().State.LastSeq; committed > last {
		// New results would get sequences the files already claim, and be
		// skipped: refuse instead of losing them.
		return nil, 0, fmt.Errorf("%w: the files in %s hold sequences up to %d but stream %s ends at %d (was it recreated?): move the files away",
			ErrStreamBehind, p.dir, committed, p.cfg.Stream, last)
	}
	start := committed
	old, err := p.js.Consumer(ctx, p.cfg.Stream, p.name)
	switch {
	case err == nil:
		info := old.CachedInfo()
		if info.Config.AckPolicy != jetstream.AckAllPolicy || info.Config.FilterSubject != "" || len(info.Config.FilterSubjects) > 0 {
			return nil, 0, fmt.Errorf("consumer %s on %s: %w (ack policy %v, filter %q): name another with sink.parquet.consumer",
				p.name, p.cfg.Stream, ErrConsumerMismatch, info.Config.AckPolicy, info.Config.FilterSubject)
		}
		if floor := info.AckFloor.Stream; followAckFloor && floor > start {
			p.log.Warn("parquet sink: the consumer's ack floor is past the files: resuming after it (files moved away, or the consumer reset)",
				"dir", p.dir, "committed_seq", committed, "ack_floor", floor)
			start = floor
		}
		if err := p.js.DeleteConsumer(ctx, p.cfg.Stream, p.name); err != nil {
			return nil, 0, fmt.Errorf("recreate consumer %s: %w", p.name, err)
		}
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	default:
		return nil, 0, fmt.Errorf("look up consumer %s on stream %s: %w", p.name, p.cfg.Stream, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       p.name,
		Description:   "loan-scorer Parquet sink into " + p.dir,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start + 1,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       p.cfg.AckWait,
		MaxDeliver:    -1,
		// A whole file is unacknowledged until it is committed.
		MaxAckPending: p.cfg.MaxRows + 2*p.cfg.FetchBatch,
		MaxWaiting:    16,
		// A sink gone for a day (a replaced container with another host
		// name) leaves no consumer behind; the files still say where to
		// resume.
		InactiveThreshold: 24 * time.Hour,
	}
	cons, err := p.js.CreateConsumer(ctx, p.cfg.Stream, cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("create consumer %s on stream %s: %w", p.name, p.cfg.Stream, err)
	}
	return cons, start + 1, nil
}

func (p *Parquet) setReading(on bool) {
	p.reading.Store(on)
	if p.opts.ReadingChanged != nil {
		p.opts.ReadingChanged(on)
	}
}

// lockDir takes an exclusive lock on the directory's lock file: one sink
// per directory, across processes. The lock goes with the process.
func lockDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w (%v)", dir, ErrSinkLocked, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
