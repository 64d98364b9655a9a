package faulttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// embeddedSettings are the settings of a scorer on its own embedded NATS
// server (a free loopback port, a store under the test's directory).
func embeddedSettings(t testing.TB) testkit.Settings {
	t.Helper()
	return testkit.Settings{
		"nats.embedded.port":      fmt.Sprint(testkit.FreePort(t)),
		"nats.embedded.store_dir": fmt.Sprintf("%q", filepath.Join(t.TempDir(), "data")),
		"http.addr":               fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)),
		"shutdown.timeout":        "10s",
		"log.level":               "info",
		"workers":                 "2",
	}
}

// modelCopy copies the repository's small XGBoost test model into dir and
// returns its path.
func modelCopy(t *testing.T, dir string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "model", "xgboost", "testdata", "binary_logistic.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "risk.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The case: model.path turned into a FIFO (a read that blocks),
// SIGHUP, then SIGTERM. The FIFO is refused at once, the old model keeps
// serving, and a SIGTERM right after another SIGHUP still drains and exits
// 0 within shutdown.timeout.
func TestReloadOfAFIFOThenSIGTERM(t *testing.T) {
	dir := t.TempDir()
	path := modelCopy(t, dir)
	settings := embeddedSettings(t)
	settings["model.path"] = fmt.Sprintf("%q", path)
	s := testkit.StartScorer(t, bins.Scorer, "scorer", settings)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	s.Signal(t, syscall.SIGHUP)
	testkit.Eventually(t, 30*time.Second, "the FIFO refused", func() bool {
		return strings.Contains(s.Output(), "reload failed") && strings.Contains(s.Output(), "named pipe")
	})
	s.WaitReady(t, 10*time.Second)

	s.Signal(t, syscall.SIGHUP)
	if code := s.Stop(t, syscall.SIGTERM, time.Minute); code != 0 {
		t.Errorf("SIGHUP then SIGTERM: exit code %d, want 0", code)
	}
	if !strings.Contains(s.Output(), "msg=stopped") {
		t.Errorf("no clean stop logged")
	}
}

// /dev/zero (through a symbolic link, as a ConfigMap mounts files) and a
// directory as model.path are refused without reading: the peak RSS stays
// that of a scorer at rest, where reading /dev/zero up to the old cap took
// it past 2 GB.
func TestReloadRefusesDevicesAndDirectories(t *testing.T) {
	dir := t.TempDir()
	path := modelCopy(t, dir)
	settings := embeddedSettings(t)
	settings["model.path"] = fmt.Sprintf("%q", path)
	s := testkit.StartScorer(t, bins.Scorer, "scorer", settings)

	for i, step := range []struct {
		make func() error
		says string
	}{
		{func() error { return os.Symlink("/dev/zero", path) }, "character device"},
		{func() error { return os.Mkdir(path, 0o700) }, "directory"},
	} {
		if err := os.RemoveAll(path); err != nil {
			t.Fatal(err)
		}
		if err := step.make(); err != nil {
			t.Fatal(err)
		}
		s.Signal(t, syscall.SIGHUP)
		testkit.Eventually(t, 30*time.Second, "refused: "+step.says, func() bool {
			return strings.Count(s.Output(), "reload failed") == i+1 && strings.Contains(s.Output(), step.says)
		})
	}
	_, peak, err := s.Memory()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("VmHWM after refusing /dev/zero and a directory: %.1f MiB", float64(peak)/(1<<20))
	if peak > 256<<20 {
		t.Errorf("VmHWM %d MiB, want under 256 MiB: a refused file was read", peak>>20)
	}
	s.WaitReady(t, 10*time.Second)
	if code := s.Stop(t, syscall.SIGTERM, time.Minute); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}
