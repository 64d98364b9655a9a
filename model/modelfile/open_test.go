package modelfile

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// openWithin runs Open in a goroutine and fails the test if it has not
// returned within a minute: a refused path must never hang the caller.
func openWithin(t *testing.T, path string, opts Options) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := Open(path, opts)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("Open(%s) still blocked after a minute", path)
		return nil
	}
}

// A FIFO without a writer, a character device that never ends, a
// directory and a (sparse) file over the limit are refused before anything
// is read: the FIFO without hanging, /dev/zero without reading its endless
// zeros into memory.
func TestOpenRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "model.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.cbm")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(DefaultMaxSize + 1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	link := filepath.Join(dir, "zero.cbm")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       error
		says       string
	}{
		{"fifo", fifo, ErrNotRegular, "named pipe"},
		{"dev zero", "/dev/zero", ErrNotRegular, "character device"},
		{"link to dev zero", link, ErrNotRegular, "character device"},
		{"directory", dir, ErrNotRegular, "directory"},
		{"over the limit", big, ErrTooLarge, "limit 1073741824"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := openWithin(t, tc.path, Options{})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("Open(%s): %v, want %v saying %q and naming the path", tc.path, err, tc.want, tc.says)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("refusing %s allocated %d bytes: it read the file", tc.path, grew)
			}
		})
	}
}
