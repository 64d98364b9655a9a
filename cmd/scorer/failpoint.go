package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/loan-scorer/loan-scorer/sink"
)

// failpointEnv names the crash point of the Parquet sink's commit a test
// wants the process to die at (sink.FailAfterWrite, ...). It exists for
// tests only: production never sets it, and nothing behaves differently
// without it. It is not a configuration key (checkEnv lets it through).
const failpointEnv = "SCORER_FAILPOINT"

// failpointExitCode is the exit status of a process stopped at a
// failpoint, distinct from the scorer's other codes so a test can tell it
// happened.
const failpointExitCode = 86

// errUnknownFailpoint: SCORER_FAILPOINT names no crash point.
var errUnknownFailpoint = errors.New("unknown failpoint")

// parseFailpoint returns the crash hook for a crash point name: nil for ""
// (no failpoint), else a hook that exits the process at once (os.Exit: no
// deferred calls, no flushing, as close to kill -9 as a process can do to
// itself) when the sink passes that point.
func parseFailpoint(name string) (func(point string), error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, nil
	}
	if !slices.Contains(sink.CrashPoints(), name) {
		return nil, fmt.Errorf("%s=%q: %w (want one of %s; test-only)",
			failpointEnv, name, errUnknownFailpoint, strings.Join(sink.CrashPoints(), ", "))
	}
	return func(point string) {
		if point == name {
			fmt.Fprintf(os.Stderr, "scorer: failpoint %s reached, exiting with status %d (test-only)\n", point, failpointExitCode)
			os.Exit(failpointExitCode)
		}
	}, nil
}

// failpointFromEnv reads failpointEnv; name is what it holds.
func failpointFromEnv() (crash func(point string), name string, err error) {
	name = strings.TrimSpace(os.Getenv(failpointEnv))
	crash, err = parseFailpoint(name)
	return crash, name, err
}
