package faulttest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// TestParquetDirectoryUnwritable takes the Parquet sink's directory away
// mid-run (the tests run as root, for whom a mode of 0555 changes
// nothing, so the directory is renamed and a plain file put in its place:
// every create under it fails). The sink must fail without acknowledging
// what it could not write and keep trying (a directory error is
// transient: sink.Parquet.Serve starts it again with a backoff), the
// scorer must keep scoring into LOANS_SCORED (the results stream is the
// buffer between them), and once the directory is back the same sink
// process must write every result exactly once.
func TestParquetDirectoryUnwritable(t *testing.T) {
	n := size(4000, 40000)
	srv := StartServer(t, bins.NATSServer, ServerConfig{})
	testkit.StartScorer(t, bins.Scorer, "worker", ScorerSettings(t, srv.URL()))
	dir := filepath.Join(t.TempDir(), "scores")
	sinkArgs := []string{"sink", "parquet", "--dir", dir, "--nats-url", srv.URL(), "--http-addr", "127.0.0.1:0", "--max-rows", "500", "--max-age", "500ms"}
	sink := testkit.StartProc(t, "parquet sink", bins.Scorer, sinkArgs, nil)
	js := ConnectJS(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	first := &Publisher{JS: js, Subject: "loans.score", Prefix: "before"}
	if err := first.Run(ctx, n/2); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 2*time.Minute, "the first half in Parquet files", func() bool {
		_, rows, err := ParquetIDs(dir)
		return err == nil && rows >= n/2
	})

	// Unwritable: the directory moves away, a file takes its name.
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	second := &Publisher{JS: js, Subject: "loans.score", Prefix: "during"}
	if err := second.Run(ctx, n/2); err != nil {
		t.Fatal(err)
	}
	WaitStream(t, js, "LOANS_SCORED", int64(n/2*2), 2*time.Minute)
	testkit.Eventually(t, time.Minute, "the sink fails on the unwritable directory", func() bool {
		return strings.Contains(sink.Output(), "parquet sink failed")
	})
	if sink.Exited() {
		t.Fatalf("the sink exited on a directory error instead of retrying: %s", lastLine(sink.Output()))
	}
	t.Logf("scorer stored all %d results while the sink could not write; the sink keeps retrying: %s",
		n/2*2, lastLine(sink.Output()))

	// The directory comes back; the sink's next attempt resumes from the
	// sequence its file names hold.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	var ids map[string]int
	var rows int
	testkit.Eventually(t, 2*time.Minute, "every result in Parquet files", func() bool {
		var err error
		ids, rows, err = ParquetIDs(dir)
		return err == nil && rows >= n/2*2
	})
	for _, prefix := range []string{"before", "during"} {
		for i := range n / 2 {
			if c := ids[ID(prefix, i)]; c != 1 {
				t.Errorf("%s is in the Parquet files %d times, want 1", ID(prefix, i), c)
			}
		}
	}
	t.Logf("the sink caught up %v after the directory came back: %d rows, %d distinct ids", time.Since(back).Round(time.Millisecond), rows, len(ids))
	if rows != n/2*2 {
		t.Fatalf("parquet rows %d, want %d", rows, n/2*2)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
