package faulttest

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// Binaries are the executables the tests run.
type Binaries struct {
	// Scorer is `go build ./cmd/scorer`.
	Scorer string
	// NATSServer is `go build github.com/nats-io/nats-server/v2`, the
	// version go.mod pins.
	NATSServer string
}

// bins are built once by TestMain for every test of the package.
var bins Binaries

// TestMain builds the binaries and runs the suite when the full suite is
// on (testkit.FullEnv); in the quick loop the package only says so: every
// test here runs real processes for tens of seconds.
func TestMain(m *testing.M) {
	if !testkit.Full() {
		fmt.Printf("faulttest: the process-level fault suite runs only in the full suite (%s=1)\n", testkit.FullEnv)
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "faulttest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if bins, err = build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles both binaries into dir.
func build(dir string) (Binaries, error) {
	scorer, err := testkit.BuildScorer(dir)
	if err != nil {
		return Binaries{}, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	server, err := testkit.BuildNATSServer(dir)
	if err != nil {
		return Binaries{}, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	return Binaries{Scorer: scorer, NATSServer: server}, nil
}

// RepoRoot returns the repository root (testkit.FindRepoRoot), wrapped in
// ErrSetup when there is none.
func RepoRoot() (string, error) {
	dir, err := testkit.FindRepoRoot()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSetup, err)
	}
	return dir, nil
}

// full reports whether FAULT_FULL=1 asks for the full sizes.
func full() bool {
	v, _ := strconv.ParseBool(os.Getenv("FAULT_FULL"))
	return v
}

// size returns the full size under FAULT_FULL=1, else the default one.
func size(def, fullSize int) int {
	if full() {
		return fullSize
	}
	return def
}

// sizeDuration returns the full duration under FAULT_FULL=1, else the
// default one.
func sizeDuration(def, fullSize time.Duration) time.Duration {
	if full() {
		return fullSize
	}
	return def
}
