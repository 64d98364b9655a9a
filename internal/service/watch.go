package service

import (
	"log/slog"
	"os"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/ratelog"
)

// fileWatch polls the model file (model.watch) and reports a change once
// the file has kept its new state for one poll, so a file still being
// written in place is not loaded half-written. It follows symbolic links
// (os.Stat), so the swap Kubernetes makes for a ConfigMap or a projected
// volume (the ..data link renamed to a new directory) is a change: another
// file behind the same path. Polling, not inotify: it sees every kind of
// replacement on every file system, network mounts included, for one stat
// per interval.
type fileWatch struct {
	path    string
	every   time.Duration
	changed chan struct{} // buffered 1: one pending change stands for many
	log     *slog.Logger
	statLog *ratelog.Limiter
}

func newFileWatch(path string, every time.Duration, log *slog.Logger) *fileWatch {
	return &fileWatch{path: path, every: every, changed: make(chan struct{}, 1), log: log,
		statLog: ratelog.NewLimiter(log, slog.LevelWarn, "model.watch: cannot stat the model file; watching on", time.Minute)}
}

// fileState is what a poll compares: which file, its size and its time.
type fileState struct {
	fi os.FileInfo // nil: the stat failed
}

func (a fileState) same(b fileState) bool {
	if a.fi == nil || b.fi == nil {
		return a.fi == nil && b.fi == nil
	}
	return os.SameFile(a.fi, b.fi) && a.fi.Size() == b.fi.Size() && a.fi.ModTime().Equal(b.fi.ModTime())
}

func (w *fileWatch) stat() fileState {
	fi, err := os.Stat(w.path)
	if err != nil {
		w.statLog.Event("model", w.path, "error", err)
		return fileState{}
	}
	return fileState{fi: fi}
}

// run polls until quit closes. A stat blocked on a hung mount blocks only
// this goroutine: the reloader never waits for it.
func (w *fileWatch) run(quit <-chan struct{}) {
	loaded := w.stat() // the state as the serving model was (about) read
	prev := loaded
	t := time.NewTicker(w.every)
	defer t.Stop()
	w.log.Info("watching the model file for changes", "model", w.path, "every", w.every)
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		now := w.stat()
		if now.fi != nil && !now.same(loaded) && now.same(prev) {
			loaded = now
			select {
			case w.changed <- struct{}{}:
			default: // a change is already pending
			}
		}
		prev = now
	}
}
