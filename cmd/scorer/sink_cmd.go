package main

import (
	"slices"

	"github.com/spf13/cobra"

	"github.com/loan-scorer/loan-scorer/internal/service"
)

func newSinkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sink",
		Short: "Run a results sink on its own",
	}
	cmd.AddCommand(newSinkParquetCmd())
	return cmd
}

// sinkFlags map `scorer sink parquet`'s own flags to their keys.
var sinkFlags = []configFlag{
	{"dir", "sink.parquet.dir", ""},
	{"stream", "results.stream", ""},
	{"consumer", "sink.parquet.consumer", ""},
	{"max-rows", "sink.parquet.max_rows", ""},
	{"max-age", "sink.parquet.max_age", ""},
	{"row-group-rows", "sink.parquet.row_group_rows", ""},
	{"compression", "sink.parquet.compression", ""},
	{"ack-wait", "sink.parquet.ack_wait", ""},
	{"fetch-batch", "sink.parquet.fetch_batch", ""},
	{"http-addr", "sink.parquet.http_addr", ""},
}

func newSinkParquetCmd() *cobra.Command {
	def := service.DefaultConfig()
	pc := def.Sink.Parquet
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
(at most every 30s) and at info level when it reads again; losing the NATS connection itself is
logged at error level at once. A directory locked by another sink, a stream behind the files
(recreated) or a consumer name taken by another kind of consumer end it with exit status 1.
SIGINT/SIGTERM close the open file. The same sink, with the same restart rule, runs inside
'scorer serve' when sink.parquet.dir is set.

It reads the same configuration as serve (--config, SCORER_* variables, NATS_URL; the nats.*
keys for the URL, credentials and TLS; sink.parquet.* and results.stream; flags override them)
and serves /healthz, /readyz (503 while NATS is unreachable or the sink is not reading) and
/metrics on sink.parquet.http_addr (--http-addr; "" serves nothing).

Columns: id (string), default_proba (double; prediction or probabilities for other model
kinds), model (string), scored_at (timestamp ms, UTC), error_code (string, null when scored).`,
		Example: "  scorer sink parquet --dir /data/scores --nats-url nats://127.0.0.1:4222 --http-addr 0.0.0.0:8988",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigFor(cmd.Flags(), append(slices.Clone(clientFlags), sinkFlags...), true)
			if err != nil {
				return err
			}
			crash, failpoint, err := failpointFromEnv()
			if err != nil {
				return err
			}
			log := newLogger(cfg.Log, cmd.ErrOrStderr())
			if crash != nil {
				log.Warn("test-only failpoint armed: the process will exit there", "failpoint", failpoint)
			}
			return service.RunSink(cmd.Context(), cfg, service.SinkOptions{Log: log, Crash: crash})
		},
	}
	f := cmd.Flags()
	f.String("dir", "", "directory of the Parquet files, created if missing (key sink.parquet.dir; required)")
	f.String("stream", def.Results.Stream, "results stream (key results.stream)")
	f.String("consumer", "", "durable consumer name; default: derived from host and directory (key sink.parquet.consumer)")
	f.Int("max-rows", pc.MaxRows, "close a file after this many results (key sink.parquet.max_rows)")
	f.Duration("max-age", pc.MaxAge, "close a file this long after its first result (key sink.parquet.max_age)")
	f.Int("row-group-rows", pc.RowGroupRows, "rows per Parquet row group at most (key sink.parquet.row_group_rows)")
	f.String("compression", pc.Compression, "zstd, snappy, gzip or none (key sink.parquet.compression)")
	f.Duration("ack-wait", pc.AckWait, "consumer redelivery timeout, must exceed --max-age (key sink.parquet.ack_wait)")
	f.Int("fetch-batch", pc.FetchBatch, "results per pull request (key sink.parquet.fetch_batch)")
	f.String("http-addr", pc.HTTPAddr, "where to serve /healthz, /readyz and /metrics; empty: nowhere (key sink.parquet.http_addr)")
	addClientFlags(f)
	return cmd
}
