package bulk

import "os"

// writeBackStep is how many bytes of output go by between two background
// flushes.
const writeBackStep = 8 << 20

// writeBack is the output file as the formats see it. It passes writes
// through and, when enabled, has a goroutine flush the file to disk
// (fdatasync) every writeBackStep bytes, so that the output goes to disk
// while the workers are still scoring and the fsync at the end waits for
// the last step only. A text output is about the size of its input: 330
// MB for a million JSON lines, whose final fsync took 0.37 s; flushing as
// it goes took a two-core run from 1.16-1.24 s to 0.98-1.01 s. With one
// worker there is no spare core for the kernel's share of the flushing,
// and flushing as it goes made that run slower, so it is off.
//
// A flush's error is kept and returned by close: the kernel reports a
// write-back error to one fsync of the file only, so the final fsync
// alone would not see an error a background flush was told of.
type writeBack struct {
	f       *os.File
	written int64
	flushed int64         // written when the last flush was asked for
	ask     chan struct{} // to the flusher; nil when off or closed
	done    chan struct{}
	err     error // the first flush error, the flusher's until done
}

// newWriteBack wraps f, flushing in the background when background is
// set.
func newWriteBack(f *os.File, background bool) *writeBack {
	wb := &writeBack{f: f}
	if background && flushes {
		wb.ask = make(chan struct{}, 1)
		wb.done = make(chan struct{})
		go wb.flusher(wb.ask)
	}
	return wb
}

// Write writes p to the file. Only one goroutine writes at a time.
func (wb *writeBack) Write(p []byte) (int, error) {
	n, err := wb.f.Write(p)
	wb.written += int64(n)
	if wb.ask != nil && wb.written-wb.flushed >= writeBackStep {
		select {
		case wb.ask <- struct{}{}:
			wb.flushed = wb.written
		default: // a flush is still asked for: it covers these bytes too
		}
	}
	return n, err
}

// flusher flushes the file once for each ask, until ask is closed. It
// takes the channel, not the field, which close sets to nil.
func (wb *writeBack) flusher(ask <-chan struct{}) {
	defer close(wb.done)
	for range ask {
		if err := flush(wb.f); err != nil && wb.err == nil {
			wb.err = err
		}
	}
}

// close stops the flusher and returns the first error a flush met; the
// caller still fsyncs the file. close may be called more than once.
func (wb *writeBack) close() error {
	if wb.ask == nil {
		return nil
	}
	close(wb.ask)
	wb.ask = nil
	<-wb.done
	return wb.err
}
