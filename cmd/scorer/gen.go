package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loan-scorer/loan-scorer/loan"
)

// genOptions are the flags of `scorer gen`.
type genOptions struct {
	n      int
	out    string
	labels bool
	seed   uint64
}

func newGenCmd() *cobra.Command {
	o := genOptions{n: 1000, seed: 1}
	cmd := &cobra.Command{
		Use:   "gen --n N -o FILE",
		Short: "Generate synthetic loan applications as JSON lines or Parquet",
		Long: "gen writes N synthetic SBA loan applications with the 18 fields the model reads, the same\n" +
			"applications for the same --seed. The format follows the file name: .jsonl, .ndjson or .json\n" +
			"for JSON lines, .parquet for Parquet, \"-\" for JSON lines on stdout. --labels adds each\n" +
			"application's true default probability (default_proba_true, from the documented risk function\n" +
			"in package loan) and the default drawn from it (default, 0 or 1). The data is synthetic.",
		Example: "  scorer gen --n 3 -o -\n" +
			"  scorer gen --n 100000 -o loans.parquet\n" +
			"  scorer gen --n 100000 --labels --seed 7 -o labelled.jsonl",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return generate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.n, "n", o.n, "number of applications")
	f.StringVarP(&o.out, "output", "o", "", `output file (.jsonl, .ndjson, .json, .parquet) or "-" for stdout`)
	f.BoolVar(&o.labels, "labels", false, "add default (0/1) and default_proba_true")
	f.Uint64Var(&o.seed, "seed", o.seed, "generator seed")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

// rowWriter is what gen writes rows through: loan.JSONLines or loan.Parquet.
type rowWriter interface {
	Write(l *loan.Labeled) error
	Close() error
}

// genFormat returns the writer constructor for an output name.
func genFormat(out string) (func(io.Writer, bool) rowWriter, string, error) {
	jsonl := func(w io.Writer, labels bool) rowWriter { return loan.NewJSONLines(w, labels) }
	if out == "-" {
		return jsonl, "JSON lines", nil
	}
	switch strings.ToLower(filepath.Ext(out)) {
	case ".jsonl", ".ndjson", ".json":
		return jsonl, "JSON lines", nil
	case ".parquet":
		return func(w io.Writer, labels bool) rowWriter { return loan.NewParquet(w, labels) }, "Parquet", nil
	}
	return nil, "", fmt.Errorf("gen: cannot tell the format of %q: name it .jsonl, .ndjson, .json or .parquet, or use - for stdout", out)
}

// generate writes o.n applications. A file is written under a temporary
// name beside it and renamed when complete, so an interrupted run leaves no
// partial file behind.
func generate(ctx context.Context, stdout, stderr io.Writer, o genOptions) error {
	if o.n < 0 {
		return fmt.Errorf("gen: --n %d is negative", o.n)
	}
	newWriter, format, err := genFormat(o.out)
	if err != nil {
		return err
	}
	start := time.Now()
	if o.out == "-" {
		return writeRows(ctx, newWriter(stdout, o.labels), o)
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.out), "."+filepath.Base(o.out)+".*.tmp")
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if err := writeRows(ctx, newWriter(tmp, o.labels), o); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("gen: close %s: %w", o.out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	if err := os.Rename(tmp.Name(), o.out); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	fmt.Fprintf(stderr, "wrote %d applications to %s (%s, seed %d) in %s\n",
		o.n, o.out, format, o.seed, time.Since(start).Round(time.Millisecond))
	return nil
}

// writeRows draws o.n applications into w and closes it.
func writeRows(ctx context.Context, w rowWriter, o genOptions) error {
	g := loan.NewGenerator(o.seed)
	for i := range o.n {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return errors.Join(fmt.Errorf("gen: stopped after %d rows: %w", i, err), w.Close())
			}
		}
		l := g.Labeled()
		if err := w.Write(&l); err != nil {
			return errors.Join(fmt.Errorf("gen: row %d: %w", i, err), w.Close())
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	return nil
}
