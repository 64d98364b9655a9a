package faulttest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/syncbuf"
)

// Proc is a child process whose output is kept in memory (for the failure
// log and for tests that grep it, e.g. for secrets).
type Proc struct {
	// Name labels the process in logs.
	Name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	err  error
}

// StartProc starts bin with args and env (added to the test's environment
// minus any SCORER_* variable). The process is killed when the test ends if
// it is still running, and its output is logged when the test failed.
func StartProc(t testing.TB, name, bin string, args, env []string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	p := &Proc{Name: name, cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan struct{})}
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
			t.Logf("--- output of %s (last 4 KiB) ---\n%s", name, tail(p.Output(), 4096))
		}
	})
	return p
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

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

// Signal sends sig (SIGSTOP, SIGCONT) without waiting for anything.
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
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running %s after %s", p.Name, timeout, sig)
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
			return 0, 0, fmt.Errorf("memory of %s: %w: %s line %q", p.Name, ErrSetup, k, v)
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
		return 0, 0, fmt.Errorf("memory of %s: %w: no VmRSS/VmHWM", p.Name, ErrSetup)
	}
	return rss, peak, nil
}

// Eventually polls cond every 20 ms until it is true, failing the test with
// what when timeout passes first. It returns how long it took.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// cleanEnv is the test's environment without SCORER_* variables, so a
// developer's shell cannot change what a test runs.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCORER_") {
			env = append(env, kv)
		}
	}
	return env
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
