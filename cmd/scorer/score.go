package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/bulk"
	"github.com/loan-scorer/loan-scorer/internal/progress"
	"github.com/loan-scorer/loan-scorer/internal/service"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// writeUnseen prints, after a run, the share of scored rows per categorical
// feature whose value the model never saw, and a warning line for each
// feature above warn. Nothing when the model cannot tell or no row scored.
func writeUnseen(w io.Writer, st bulk.Stats, warn float64) {
	scored := st.Rows - st.Errors
	if len(st.Unseen) == 0 || scored <= 0 {
		return
	}
	share := func(n int64) float64 { return float64(n) / float64(scored) }
	var sb strings.Builder
	sb.WriteString("unseen values (share of scored rows the model scored with a feature's prior):")
	for _, u := range st.Unseen {
		fmt.Fprintf(&sb, " %s %.2f%%", u.Feature, 100*share(u.Rows))
	}
	fmt.Fprintln(w, sb.String())
	for _, u := range st.Unseen {
		if share(u.Rows) > warn {
			fmt.Fprintf(w, "warning: %s: %d of %d scored rows (%.2f%%, above --unseen-warn %.2f%%) have a value the model never saw: check the feed's spelling, case and encoding (--bool-as for booleans)\n",
				u.Feature, u.Rows, scored, 100*share(u.Rows), 100*warn)
		}
	}
}

func newScoreCmd() *cobra.Command {
	var (
		out, modelPath, codesPath string
		o                         bulk.Options
		boolAs                    []string
		unseenWarn                float64
	)
	cmd := &cobra.Command{
		Use:   "score IN -o OUT",
		Short: "Score a whole Parquet, CSV or JSON lines file",
		Long: `score reads IN (.parquet, .csv, .jsonl/.ndjson/.json), scores every row on all cores and
writes OUT in the same format (or Parquet from CSV: numeric features as doubles, other columns
as strings) and row order: every input column plus the model's output
(default_proba for a binary classifier, prediction for a regressor, probabilities_<i> for a
multiclass model). Columns match the model's features by name with the JSON rules: numbers
from any integer or float column (null: missing; NaN and infinities: invalid_number),
categories from string, boolean (as --bool-as) or integer columns; CSV cells true/false in
any case are booleans. A missing or mistyped column is an error naming it, before any output
exists; a row the model cannot take gets a null value and its reason in an "error" column
(a Parquet output has one when a nullable category can fail a row; without it a NaN stops
the run naming the row). A byte-order mark before a JSON lines or CSV file's first line is
skipped. OUT is written under a temporary name and renamed when complete, so a failure (a
corrupt input too) leaves no partial file.

--explain K adds each scored row's top K reasons toward the predicted outcome (for a binary
classifier: toward default), in columns reason_<i> (the feature, or its reason code with
--codes) and reason_<i>_contribution (its SHAP value, log-odds), i = 1..K, empty past the
reasons a row has; a JSON lines output gets "reasons" as a result body does (docs/EXPLANATIONS.md).
At the end, for a CatBoost model, the share of scored rows per categorical feature whose value
the model never saw (it scored them with the feature's prior) is printed, with a warning for
each feature above --unseen-warn: a feed that changed spelling, case or encoding.

On a terminal a progress bar shows rows/s; the summary line goes to stderr.`,
		Example: "  scorer score loans.parquet -o scored.parquet\n" +
			"  scorer score loans.csv -o scored.csv --model model.cbm --workers 4",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if os.Getenv("GOGC") == "" {
				// The pipeline's live memory is bounded (a window of
				// units and their row groups in flight); GC at 1.5× rather
				// than 2× of it keeps the peak close to that bound however
				// long the file (docs/PERFORMANCE.md, "Bulk files").
				debug.SetGCPercent(50)
			}
			m, err := modelLoader(service.ModelConfig{Path: modelPath})()
			if err != nil {
				return fmt.Errorf("score: %w", err)
			}
			o.Model = m
			if codesPath != "" {
				if o.Codes, err = reason.LoadCodes(codesPath); err != nil {
					return fmt.Errorf("score: --codes: %w", err)
				}
			}
			if unseenWarn < 0 || unseenWarn > 1 {
				return fmt.Errorf("score: --unseen-warn: %v, want a share within 0..1", unseenWarn)
			}
			o.Schema = ingest.SchemaConfig{BoolAs: boolAs}
			if err := o.Schema.Validate(); err != nil {
				return fmt.Errorf("score: --bool-as: %w", err)
			}
			stderr := cmd.ErrOrStderr()
			bar := progress.New(stderr, "scoring", "rows", 0)
			o.Total, o.Progress = bar.SetTotal, bar.Set
			st, err := bulk.ScoreFile(cmd.Context(), args[0], out, o)
			bar.Done()
			if err != nil {
				return fmt.Errorf("score: %w", err)
			}
			fmt.Fprintf(stderr, "scored %d rows (%d errors) from %s into %s in %.2fs: %.0f rows/s (model %s)\n",
				st.Rows, st.Errors, args[0], out, st.Elapsed.Seconds(), st.RowsPerSecond(), m.Version)
			writeUnseen(stderr, st, unseenWarn)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "output file: same format as IN, or .parquet for a CSV")
	f.StringVar(&modelPath, "model", "", "model file (.cbm, CatBoost JSON, LightGBM text, XGBoost JSON); default: the demo model")
	f.IntVar(&o.Batch, "batch", 4096, "rows a worker decodes and scores at once")
	f.IntVar(&o.Workers, "workers", 0, "workers that decode, score and encode (0: one per CPU)")
	f.StringVar(&o.Compression, "compression", "zstd", "Parquet output compression: zstd, snappy, gzip or none")
	f.IntVar(&o.RowGroupRows, "row-group-rows", 128*1024, "rows per output row group at most")
	f.IntVar(&o.MaxColumns, "max-columns", bulk.DefaultMaxColumns, "refuse an input with more columns (each costs about 50 KB while scoring)")
	f.StringSliceVar(&boolAs, "bool-as", []string{"False", "True"}, "category strings for boolean false,true")
	f.BoolVar(&o.ModelColumn, "model-column", false, "add a column \"model\" naming the model version on every row (JSON lines: a \"model\" field)")
	f.IntVar(&o.Explain, "explain", 0, "reasons per row, in reason_<i> columns (0: none; at most the model's features)")
	f.StringVar(&codesPath, "codes", "", "YAML file mapping features to reason codes (configs/reason-codes.yaml for the demo model)")
	f.Float64Var(&unseenWarn, "unseen-warn", 0.01, "warn for a categorical feature whose unseen values exceed this share of the scored rows")
	f.BoolVar(&o.CopyThrough, "copy-through", false, "measure only: replace scoring by a constant 0.5 (same reader and writer)")
	_ = f.MarkHidden("copy-through")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}
