// Command traindemo trains the embedded demo model: it generates loan
// applications with a fixed seed, trains gradient-boosted symmetric trees on
// them with internal/train, prints the held-out metrics beside the Bayes
// metrics (the true risk function as the score), and writes the model as
// gzipped CatBoost JSON. The same flags always give the same bytes.
//
//	go run ./cmd/traindemo -o model/demo/loan-demo.json.gz
//
// (model/demo runs it through go generate.)
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/train"
	"github.com/loan-scorer/loan-scorer/loan"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "traindemo:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	out     string
	rows    int
	holdout int
	seed    uint64
	cfg     train.Config
}

func parse(args []string) (options, error) {
	o := options{cfg: train.DefaultConfig()}
	fs := flag.NewFlagSet("traindemo", flag.ContinueOnError)
	fs.StringVar(&o.out, "o", "", "write the gzipped CatBoost JSON model here (empty: metrics only)")
	fs.IntVar(&o.rows, "rows", 300000, "training rows")
	fs.IntVar(&o.holdout, "holdout", 100000, "held-out rows for the metrics")
	fs.Uint64Var(&o.seed, "seed", 20261125, "generator seed")
	fs.IntVar(&o.cfg.Iterations, "iterations", o.cfg.Iterations, "trees")
	fs.IntVar(&o.cfg.Depth, "depth", o.cfg.Depth, "tree depth")
	fs.Float64Var(&o.cfg.LearningRate, "learning-rate", o.cfg.LearningRate, "learning rate")
	name := fs.String("name", "loan-demo", "model name stored in model_info")
	notice := fs.String("notice", "illustrative model trained on synthetic data", "notice stored in model_info")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.cfg.Info = map[string]string{
		"model_name":    *name,
		"description":   *notice,
		"training_data": fmt.Sprintf("%d synthetic applications from loan.NewGenerator(%d); labels drawn from loan.Risk", o.rows, o.seed),
	}
	if o.rows < 100 || o.holdout < 100 {
		return o, fmt.Errorf("need at least 100 training and 100 held-out rows")
	}
	return o, nil
}

func run(args []string, stdout io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	start := time.Now()
	g := loan.NewGenerator(o.seed)
	trainSet := Dataset(g, o.rows)
	holdout := make([]loan.Labeled, o.holdout)
	for i := range holdout {
		holdout[i] = g.Labeled()
	}
	fmt.Fprintf(stdout, "generated %d training and %d held-out rows (seed %d) in %s\n",
		o.rows, o.holdout, o.seed, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	m, err := train.Train(trainSet, o.cfg)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	fmt.Fprintf(stdout, "trained %d trees of depth %d in %s\n", m.Trees(), o.cfg.Depth, time.Since(start).Round(time.Millisecond))

	met := Evaluate(m, holdout)
	fmt.Fprintf(stdout, "held-out default rate %.4f\n", met.Rate)
	fmt.Fprintf(stdout, "Bayes (true risk):  AUC %.4f  log-loss %.4f\n", met.BayesAUC, met.BayesLogLoss)
	fmt.Fprintf(stdout, "model:              AUC %.4f  log-loss %.4f\n", met.AUC, met.LogLoss)
	fmt.Fprintf(stdout, "AUC gap %.4f, log-loss ratio %.4f\n", met.BayesAUC-met.AUC, met.LogLoss/met.BayesLogLoss)

	if o.out == "" {
		return nil
	}
	return write(m, o, stdout)
}
