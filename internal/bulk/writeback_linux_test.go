package bulk

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteBackPassesWritesThrough writes more than two flush steps
// through a flushing writeBack and reads the file back.
func TestWriteBackPassesWritesThrough(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wb := newWriteBack(f, true)
	want := bytes.Repeat([]byte("0123456789abcdef"), (2*writeBackStep+12345)/16)
	for p := want; len(p) > 0; {
		n := min(len(p), 1<<20+7)
		if _, err := wb.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := wb.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := wb.close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, wrote %d (or they differ)", len(got), len(want))
	}
}

// TestWriteBackReportsFlushErrors flushes a pipe, which fdatasync refuses
// (EINVAL): the kernel tells one fsync of a write-back error, so an error
// the background flush met must come out of close, or the final fsync
// would pass over it.
func TestWriteBackReportsFlushErrors(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	drained := make(chan struct{})
	go func() {
		io.Copy(io.Discard, r)
		close(drained)
	}()
	wb := newWriteBack(w, true)
	if _, err := wb.Write(make([]byte, writeBackStep)); err != nil {
		t.Fatal(err)
	}
	err = wb.close()
	w.Close()
	<-drained
	if err == nil {
		t.Fatal("close returned no error after fdatasync of a pipe")
	}
	t.Logf("close: %v", err)
}

// TestWriteBackOffDoesNotFlush: without background flushing a pipe takes
// the same bytes and close has nothing to report.
func TestWriteBackOffDoesNotFlush(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, r)
		got <- n
	}()
	wb := newWriteBack(w, false)
	if _, err := wb.Write(make([]byte, writeBackStep+1)); err != nil {
		t.Fatal(err)
	}
	if err := wb.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	w.Close()
	if n := <-got; n != writeBackStep+1 {
		t.Fatalf("pipe took %d bytes, want %d", n, writeBackStep+1)
	}
}
