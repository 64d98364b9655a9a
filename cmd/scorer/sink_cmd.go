package main

import (
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/sink"
)

func newSinkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sink",
		Short: "Run a results sink on its own",
	}
	cmd.AddCommand(newSinkParquetCmd())
	return cmd
}

func newSinkParquetCmd() *cobra.Command {
	cfg := sink.DefaultParquetConfig()
	var nf natsFlags
	var logLevel string
	cmd := &cobra.Command{
		Use:   "parquet --dir DIR",
		Short: "Write the results stream into rolling Parquet files, every result exactly once",
		Long: `sink parquet reads LOANS_SCORED in stream order through its own durable consumer and
writes rolling files DIR/scores-<first seq>-<last seq>.parquet (sequences zero-padded to 20
digits so names sort in stream order), closed after --max-rows results or --max-age. Each file
is written under a temporary name, fsynced, renamed and the directory fsynced before its
messages are acknowledged; on start the sink removes stale temporary files and resumes after
the highest sequence the file names hold, so every result lands in exactly one file whatever
crashes. A file holds only results that follow on from the files before it: deliveries lost
on the way (or a consumer reset or rolled back by a broker restart) make the sink commit what
followed on and recreate its consumer after it (a gap recovery, logged and counted), so an ack
never covers a result no file holds. One sink per directory (a lock file enforces it).

NATS lost, a missed heartbeat or another transient failure (the stream unavailable, a directory
or disk error) restarts the sink from its files after 1s, doubling to 30s, logged at error level
(at most every 30s) and at info level when it reads again. A directory locked by another sink,
a stream behind the files (recreated) or a consumer name taken by another kind of consumer end
it with exit status 1. SIGINT/SIGTERM close the open file. The same sink, with the same restart
rule, runs inside 'scorer serve' when sink.parquet.dir is set.

Columns: id (string), default_proba (double; prediction or probabilities for other model
kinds), model (string), scored_at (timestamp ms, UTC), error_code (string, null when scored).`,
		Example: "  scorer sink parquet --dir /data/scores --nats-url nats://127.0.0.1:4222",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			crash, failpoint, err := failpointFromEnv()
			if err != nil {
				return err
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			if crash != nil {
				log.Warn("test-only failpoint armed: the process will exit there", "failpoint", failpoint)
			}
			nc, err := nf.connect("loan-scorer parquet sink")
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return fmt.Errorf("jetstream: %w", err)
			}
			s, err := sink.NewParquet(js, cfg, sink.ParquetOptions{Log: log, Crash: crash})
			if err != nil {
				return err
			}
			if err := s.Serve(cmd.Context()); err != nil {
				return err
			}
			return nc.Drain()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Dir, "dir", "", "directory of the Parquet files (created if missing)")
	f.StringVar(&cfg.Stream, "stream", ingest.DefaultTopology().Results.Stream, "results stream")
	f.StringVar(&cfg.Consumer, "consumer", "", "durable consumer name (default: derived from the directory)")
	f.IntVar(&cfg.MaxRows, "max-rows", cfg.MaxRows, "close a file after this many results")
	f.DurationVar(&cfg.MaxAge, "max-age", cfg.MaxAge, "close a file this long after its first result")
	f.IntVar(&cfg.RowGroupRows, "row-group-rows", cfg.RowGroupRows, "rows per Parquet row group at most")
	f.StringVar(&cfg.Compression, "compression", cfg.Compression, "zstd, snappy, gzip or none")
	f.DurationVar(&cfg.AckWait, "ack-wait", cfg.AckWait, "consumer redelivery timeout (must exceed --max-age)")
	f.IntVar(&cfg.FetchBatch, "fetch-batch", cfg.FetchBatch, "results per pull request")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	nf.add(f)
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}
