package testkit

import (
	"os"
	"strconv"
	"testing"
)

// FullEnv is the environment variable that turns on the full suite:
// FULL_SUITE=1 (scripts/test.sh, and so CI, sets it). Without it `go test
// ./...` is the quick loop: the process-level fault suite
// (internal/faulttest) and the tests that wait out long stalls or
// timeouts skip. It is not a SCORER_* variable, which `scorer serve` would
// refuse as a configuration key it does not know.
const FullEnv = "FULL_SUITE"

// Full reports whether the full suite runs.
func Full() bool {
	v, _ := strconv.ParseBool(os.Getenv(FullEnv))
	return v
}

// NeedFull skips t unless the full suite runs; why says what the test
// waits for, for the skip message.
func NeedFull(t testing.TB, why string) {
	t.Helper()
	if !Full() {
		t.Skipf("full suite only (%s=1): %s", FullEnv, why)
	}
}
