package testkit

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcRunsAndStops runs a real shell: its output is kept, SCORER_*
// variables of the test's environment do not reach it, and Stop returns
// its exit code.
func TestProcRunsAndStops(t *testing.T) {
	t.Setenv("SCORER_LOG_LEVEL", "debug")
	sh := "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		t.Skip("no /bin/sh")
	}
	p := StartProc(t, "sh", sh, []string{"-c", `echo "level=${SCORER_LOG_LEVEL:-unset} extra=$EXTRA"; trap 'exit 3' TERM; while :; do sleep 0.05; done`}, []string{"EXTRA=1"})
	Eventually(t, 10*time.Second, "output", func() bool { return strings.Contains(p.Output(), "extra=1") })
	if !strings.Contains(p.Output(), "level=unset") {
		t.Errorf("a SCORER_* variable reached the process: %q", p.Output())
	}
	if rss, peak, err := p.Memory(); err != nil || rss <= 0 || peak < rss {
		t.Errorf("Memory() = %d, %d, %v", rss, peak, err)
	}
	if code := p.Stop(t, syscall.SIGTERM, 10*time.Second); code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	if !p.Exited() || p.ExitCode() != 3 {
		t.Errorf("Exited %v, ExitCode %d", p.Exited(), p.ExitCode())
	}
}

func TestSettingsYAML(t *testing.T) {
	got := Settings{"nats.url": `"nats://x"`, "nats.embedded.port": "4222", "log.level": "info"}.YAML()
	want := "log:\n  level: info\nnats:\n  embedded:\n    port: 4222\n  url: \"nats://x\"\n"
	if got != want {
		t.Fatalf("YAML:\n%s\nwant:\n%s", got, want)
	}
}
