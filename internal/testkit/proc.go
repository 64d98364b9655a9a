package testkit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ErrExited is what Kill reports for a process that already ended.
var ErrExited = errors.New("process already exited")

// Proc is a child process whose output (stdout and stderr) is kept in
// memory, for the failure log and for tests that read it.
type Proc struct {
	// Name labels the process in logs.
	Name string
	cmd  *exec.Cmd
	out  *Buffer
	done chan struct{}
	err  error
}

// StartProc starts bin with args and env (added to the test's environment
// minus every SCORER_* variable, so a developer's shell cannot change what
// a test runs). The process is killed when the test ends if it is still
// running, and its output is logged when the test failed.
func StartProc(t testing.TB, name, bin string, args, env []string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(CleanEnv(), env...)
	p := &Proc{Name: name, cmd: cmd, out: &Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- output of %s (last 4 KiB) ---\n%s", name, Tail(p.Output(), 4096))
		}
	})
	return p
}

// CleanEnv is the test's environment without SCORER_* variables.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCORER_") {
			env = append(env, kv)
		}
	}
	return env
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Output returns everything the process wrote so far (stdout and stderr).
func (p *Proc) Output() string { return p.out.String() }

// Kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("kill %s: %v", p.Name, ErrExited)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s: %v", p.Name, err)
	}
	<-p.done
}

// Signal sends sig (SIGSTOP, SIGCONT, SIGHUP) without waiting for anything.
func (p *Proc) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s to %s: %v", sig, p.Name, err)
	}
}

// ExitCode returns the exit status of a process that has ended (-1 while
// it runs, or when a signal ended it).
func (p *Proc) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Stop sends sig and returns the exit code, failing the test if the
// process is still running after timeout.
func (p *Proc) Stop(t testing.TB, sig syscall.Signal, timeout time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s to %s: %v", sig, p.Name, err)
	}
	return p.Wait(t, timeout)
}

// Wait waits for the process to end and returns its exit code, failing the
// test if it is still running after timeout.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s", p.Name, timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// Memory returns the process's resident set size now (VmRSS) and at its
// peak (VmHWM), in bytes, from /proc/<pid>/status.
func (p *Proc) Memory() (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, 0, fmt.Errorf("memory of %s: %w", p.Name, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "12345 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("memory of %s: %s line %q", p.Name, k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("memory of %s: %s: %w", p.Name, k, err)
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			peak = n << 10
		}
	}
	if rss == 0 || peak == 0 {
		return 0, 0, fmt.Errorf("memory of %s: no VmRSS/VmHWM in /proc", p.Name)
	}
	return rss, peak, nil
}

// Tail returns the last n bytes of s, marked when cut.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
