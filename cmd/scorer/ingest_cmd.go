package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loan-scorer/loan-scorer/ingest/filepub"
	"github.com/loan-scorer/loan-scorer/internal/progress"
)

func newIngestCmd() *cobra.Command {
	cfg := filepub.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "ingest IN.parquet",
		Short: "Publish every row of a Parquet or JSON lines file to loans.score",
		Long: `ingest publishes each row of IN (.parquet, or .jsonl/.ndjson/.json) as one JSON application
to loans.score, with Nats-Msg-Id "<basename>:<first 12 hex of sha256(IN)>:<row>" (rows from
0), so a re-run inside the stream's dedup window (stream.duplicates) publishes nothing twice.
Parquet rows become objects keyed by the top-level column names (nulls as null; NaN and the
infinities as the strings "NaN", "Infinity", "-Infinity", which the scorer refuses as invalid_number).
Publishes are async with at most --max-pending awaiting their acknowledgement; a progress bar
shows on a terminal. --wait then waits for every row's result on LOANS_SCORED and reports
the end-to-end rate. The summary line goes to stderr.`,
		Example: "  scorer ingest loans.parquet --wait --nats-url nats://127.0.0.1:4222",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conf, nc, err := clientConn(cmd.Flags(), "loan-scorer ingest", cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer nc.Close()
			// Subjects and streams not given as flags are the configuration's.
			fromConfig(cmd.Flags(), "subject", &cfg.Subject, conf.Subjects.Score)
			fromConfig(cmd.Flags(), "stream", &cfg.InputStream, conf.Stream.Name)
			fromConfig(cmd.Flags(), "results-stream", &cfg.ResultsStream, conf.Results.Stream)
			stderr := cmd.ErrOrStderr()
			bar := progress.New(stderr, "publishing", "rows", 0)
			st, err := filepub.Publish(cmd.Context(), nc, args[0], cfg, bar.Set)
			bar.Done()
			if err != nil {
				return fmt.Errorf("ingest: %w", err)
			}
			rate := 0.0
			if s := st.PublishTime.Seconds(); s > 0 {
				rate = float64(st.Rows) / s
			}
			fmt.Fprintf(stderr, "published %d rows from %s to %s in %.2fs: %.0f rows/s (%d new, %d duplicates, %d failed)\n",
				st.Rows, args[0], cfg.Subject, st.PublishTime.Seconds(), rate, st.Published, st.Duplicates, st.Failed)
			if st.Failed > 0 {
				return fmt.Errorf("ingest: %d publishes failed, first: %w", st.Failed, st.FirstError)
			}
			if cfg.Wait {
				e2e := 0.0
				if s := st.EndToEnd.Seconds(); s > 0 {
					e2e = float64(st.Results) / s
				}
				fmt.Fprintf(stderr, "results: %d (%d errors) in %.2fs end to end: %.0f rows/s\n",
					st.Results, st.ResultErrors, st.EndToEnd.Seconds(), e2e)
				if st.Results < st.Rows {
					return errors.New("ingest: not every row has a result")
				}
			}
			return nc.Drain()
		},
	}
	f := cmd.Flags()
	f.BoolVar(&cfg.Wait, "wait", false, "wait for every row's result on the results stream")
	f.DurationVar(&cfg.WaitTimeout, "wait-timeout", cfg.WaitTimeout, "give up waiting for results after this long")
	f.StringVar(&cfg.Subject, "subject", cfg.Subject, "input subject")
	f.StringVar(&cfg.InputStream, "stream", cfg.InputStream, "input stream (its dedup window bounds --wait's look-back)")
	f.StringVar(&cfg.ResultsStream, "results-stream", cfg.ResultsStream, "results stream (for --wait)")
	f.IntVar(&cfg.MaxPending, "max-pending", cfg.MaxPending, "publishes awaiting their acknowledgement at most")
	addClientFlags(f)
	return cmd
}
