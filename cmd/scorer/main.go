// Command scorer scores loan applications with a CatBoost (or LightGBM,
// XGBoost) model behind NATS JetStream, over HTTP and on files.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/loan-scorer/loan-scorer/internal/buildinfo"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes one command line and returns the process exit code.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "scorer:", err)
		var exit exitError
		if errors.As(err, &exit) {
			return exit.code
		}
		return 1
	}
	return 0
}

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "scorer",
		Short:         "Score loan applications with a CatBoost model behind NATS JetStream",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version prints the same line as `scorer version`.
		Version: buildinfo.Read().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(
		newServeCmd(),
		newHealthCmd(),
		newModelCmd(),
		newGenCmd(),
		newBenchCmd(),
		newSinkCmd(),
		newScoreCmd(),
		newIngestCmd(),
		newResultCmd(),
		newVersionCmd(),
	)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the scorer's version, VCS revision and Go version",
		Long: `version prints what the Go toolchain recorded in the binary: the module version
("(devel)" for a build in the work tree, a tag for go install module@version), the
VCS revision (12 hex digits, "-modified" when the work tree had changes; "unknown"
for a build without VCS information, such as the container image, whose build
context holds no .git) and the Go version. scorer --version prints the same line,
and /metrics exports it as scorer_build_info.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), buildinfo.Read().String())
			return err
		},
	}
}
