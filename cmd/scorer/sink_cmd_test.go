package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
	"github.com/loan-scorer/loan-scorer/sink"
)

// publishScored publishes n results to loans.scored with ids r-0.., the
// way the results publisher does.
func publishScored(t *testing.T, js jetstream.JetStream, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOANS_SCORED", Subjects: []string{"loans.scored"}}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	for i := range n {
		id := fmt.Sprintf("r-%d", i)
		h := nats.Header{}
		h.Set(sink.HeaderMsgID, id)
		h.Set(sink.HeaderModel, "loan-demo@0123456789ab")
		h.Set(sink.HeaderScoredAt, time.Now().UTC().Format(sink.ScoredAtLayout))
		body := fmt.Appendf(nil, `{"id":%q,"default_proba":%g,"model":"loan-demo@0123456789ab"}`, id, float64(i)/1000)
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "loans.scored", Header: h, Data: body}); err != nil {
			t.Fatal(err)
		}
	}
}

// committedRows counts the rows the committed file names claim.
func committedRows(dir string) int {
	n := 0
	paths, _ := filepath.Glob(filepath.Join(dir, "scores-*.parquet"))
	for _, p := range paths {
		if first, last, ok := sink.ParseFileName(filepath.Base(p)); ok {
			n += int(last - first + 1)
		}
	}
	return n
}

// TestSinkParquetCrashAtEachFailpoint crashes `scorer sink parquet` at each
// step of a commit, restarts it without the failpoint, and checks that the
// files (read with arrow-go) hold every id exactly once.
func TestSinkParquetCrashAtEachFailpoint(t *testing.T) {
	t.Parallel()
	testkit.NeedFull(t, "crashes and restarts the real binary at each failpoint")
	bin := scorerBinary(t)
	const n = 50
	for _, point := range []string{sink.FailAfterWrite, sink.FailAfterFsync, sink.FailAfterRename} {
		t.Run(point, func(t *testing.T) {
			srv, nc := testkit.StartNATS(t)
			js, _ := jetstream.New(nc)
			publishScored(t, js, n)
			dir := t.TempDir()
			args := []string{"sink", "parquet", "--dir", dir, "--nats-url", srv.ClientURL(), "--http-addr", "127.0.0.1:0", "--max-rows", "20", "--max-age", "300ms", "--ack-wait", "1m"}

			crash := exec.Command(bin, args...)
			crash.Env = append(os.Environ(), failpointEnv+"="+point)
			out, err := crash.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != failpointExitCode {
				t.Fatalf("want exit %d at %s, got %v\n%s", failpointExitCode, point, err, out)
			}
			// What the crash left: before the rename only a temporary file;
			// after it, the first file, committed but not acknowledged.
			tmps, _ := filepath.Glob(filepath.Join(dir, ".scores-*.tmp"))
			switch point {
			case sink.FailAfterRename:
				if got := committedRows(dir); got != 20 || len(tmps) != 0 {
					t.Fatalf("after %s: %d committed rows and temporary files %v, want 20 and none", point, got, tmps)
				}
			default:
				if got := committedRows(dir); got != 0 || len(tmps) != 1 {
					t.Fatalf("after %s: %d committed rows and temporary files %v, want 0 and one", point, got, tmps)
				}
			}

			restart := exec.Command(bin, args...)
			var log strings.Builder
			restart.Stdout, restart.Stderr = &log, &log
			if err := restart.Start(); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, 30*time.Second, "all results committed after the restart", func() bool { return committedRows(dir) == n })
			_ = restart.Process.Signal(syscall.SIGTERM)
			if err := restart.Wait(); err != nil {
				t.Fatalf("restarted sink: %v\n%s", err, log.String())
			}
			if tmps, _ := filepath.Glob(filepath.Join(dir, ".scores-*.tmp")); len(tmps) != 0 {
				t.Errorf("temporary files left: %v", tmps)
			}
			seen := map[string]int{}
			paths, _ := filepath.Glob(filepath.Join(dir, "scores-*.parquet"))
			for _, p := range paths {
				tbl := arrowtest.Read(t, p)
				for i, v := range tbl.Cols["id"] {
					id := v.(string)
					seen[id]++
					var k int
					fmt.Sscanf(id, "r-%d", &k)
					if p := tbl.Cols["default_proba"][i]; p != float64(k)/1000 {
						t.Errorf("%s: default_proba %v, want %v", id, p, float64(k)/1000)
					}
				}
			}
			for i := range n {
				if c := seen[fmt.Sprintf("r-%d", i)]; c != 1 {
					t.Errorf("r-%d is in the files %d times, want once", i, c)
				}
			}
			if len(seen) != n {
				t.Errorf("files hold %d ids, want %d", len(seen), n)
			}
		})
	}
}
