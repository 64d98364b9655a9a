package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// interval is how often the bar is redrawn.
const interval = 200 * time.Millisecond

// Bar is a progress bar over a count of items (rows, messages). Its
// methods are safe for concurrent use. A Bar on a writer that is not a
// terminal does nothing.
type Bar struct {
	w     io.Writer
	label string
	unit  string
	start time.Time
	total atomic.Int64
	done  atomic.Int64

	stop     chan struct{}
	finished chan struct{}
	once     sync.Once
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// New starts a bar on w labelled label, counting unit ("rows"); total is
// the expected count, or 0 when unknown. On a writer that is not a
// terminal the bar stays silent.
func New(w io.Writer, label, unit string, total int64) *Bar {
	b := &Bar{w: w, label: label, unit: unit, start: time.Now()}
	b.total.Store(total)
	if !IsTerminal(w) {
		return b
	}
	b.stop, b.finished = make(chan struct{}), make(chan struct{})
	go b.loop()
	return b
}

// SetTotal sets the expected count.
func (b *Bar) SetTotal(n int64) { b.total.Store(n) }

// Set records the count done so far.
func (b *Bar) Set(n int64) { b.done.Store(n) }

// Add adds n to the count done.
func (b *Bar) Add(n int64) { b.done.Add(n) }

// Done stops the bar and clears its line.
func (b *Bar) Done() {
	b.once.Do(func() {
		if b.stop == nil {
			return
		}
		close(b.stop)
		<-b.finished
		fmt.Fprint(b.w, "\r\033[K")
	})
}

func (b *Bar) loop() {
	defer close(b.finished)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			fmt.Fprint(b.w, "\r\033[K"+Line(b.label, b.unit, b.done.Load(), b.total.Load(), time.Since(b.start)))
		}
	}
}

// Line renders one state of the bar: label, a 30-cell bar and percentage
// when the total is known, the count and the rate.
func Line(label, unit string, done, total int64, elapsed time.Duration) string {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	var sb strings.Builder
	sb.WriteString(label)
	if total > 0 {
		frac := min(float64(done)/float64(total), 1)
		cells := int(frac * 30)
		fmt.Fprintf(&sb, " [%s%s] %5.1f%% %d/%d %s", strings.Repeat("=", cells), strings.Repeat(" ", 30-cells), 100*frac, done, total, unit)
	} else {
		fmt.Fprintf(&sb, " %d %s", done, unit)
	}
	fmt.Fprintf(&sb, " %.0f %s/s", rate, unit)
	return sb.String()
}
