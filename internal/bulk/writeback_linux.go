package bulk

import (
	"os"

	"golang.org/x/sys/unix"
)

// flushes says whether flush does anything here.
const flushes = true

// flush writes f's data to disk (fdatasync: the data and the size, not
// the times).
func flush(f *os.File) error {
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	return nil
}
