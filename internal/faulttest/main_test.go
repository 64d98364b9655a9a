package faulttest

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// bins are built once by TestMain for every test of the package.
var bins Binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "faulttest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if bins, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
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
