package sink

import (
	"fmt"
	"os"
	"strings"
)

// FailpointEnv is the environment variable naming the crash point a test
// wants the Parquet sink to die at. It exists for tests only: production
// never sets it, and the sink behaves the same without it.
const FailpointEnv = "SCORER_FAILPOINT"

// Crash points of the Parquet sink's commit, in the order a commit passes
// them. Each is a place where a real crash (kill -9, power loss of the
// process) would leave the directory in a different state; the exactly-once
// test makes the process exit at each.
const (
	// FailAfterWrite fires once the temporary file holds the whole Parquet
	// file (footer included) but before it is fsynced.
	FailAfterWrite = "sink.after_write"
	// FailAfterFsync fires after the temporary file is fsynced, before the
	// rename to its final name.
	FailAfterFsync = "sink.after_fsync"
	// FailAfterRename fires after the rename and the directory fsync,
	// before the messages are acknowledged.
	FailAfterRename = "sink.after_rename"
)

// failpointExitCode is the exit status of a process stopped by a failpoint,
// distinct from the scorer's other codes so a test can tell it happened.
const failpointExitCode = 86

// FailpointExitCode returns the exit status a failpoint exits with.
func FailpointExitCode() int { return failpointExitCode }

// Failpoint makes the process exit at once (os.Exit, no deferred calls, no
// flushing: as close to kill -9 as a process can do to itself) when the
// named crash point is reached. The zero Failpoint never fires.
type Failpoint struct {
	point string
}

// ParseFailpoint returns the failpoint for a crash point name: "" never
// fires; any other name must be one of FailAfterWrite, FailAfterFsync or
// FailAfterRename.
func ParseFailpoint(name string) (Failpoint, error) {
	name = strings.TrimSpace(name)
	switch name {
	case "", FailAfterWrite, FailAfterFsync, FailAfterRename:
		return Failpoint{point: name}, nil
	}
	return Failpoint{}, fmt.Errorf("%s=%q: %w (want %s, %s or %s; test-only)",
		FailpointEnv, name, ErrUnknownFailpoint, FailAfterWrite, FailAfterFsync, FailAfterRename)
}

// FailpointFromEnv reads FailpointEnv.
func FailpointFromEnv() (Failpoint, error) { return ParseFailpoint(os.Getenv(FailpointEnv)) }

// Enabled reports whether the failpoint fires somewhere.
func (f Failpoint) Enabled() bool { return f.point != "" }

// String returns the crash point's name, or "" when disabled.
func (f Failpoint) String() string { return f.point }

// hit exits the process when point is the configured crash point.
func (f Failpoint) hit(point string) {
	if f.point != "" && f.point == point {
		fmt.Fprintf(os.Stderr, "scorer: failpoint %s reached, exiting with status %d (test-only)\n", point, failpointExitCode)
		os.Exit(failpointExitCode)
	}
}
