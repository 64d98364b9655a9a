package testkit

import (
	"os"
	"os/exec"
	"testing"
)

// Promtool returns the path of Prometheus's promtool (Debian's prometheus
// package). Without it the test is skipped, or fails under CI, whose
// .ci/run installs it.
func Promtool(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("promtool is not installed, and CI is set: .ci/run must install it (apt-get install -y prometheus)")
	}
	t.Skip("promtool is not installed (apt-get install -y prometheus); CI runs this test")
	return ""
}
