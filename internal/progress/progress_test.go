package progress

import (
	"bytes"
	"testing"
	"time"
)

func TestSilentOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "scoring", "rows", 100)
	b.Add(50)
	b.Done()
	if buf.Len() != 0 {
		t.Errorf("wrote %q to a non-terminal", buf.String())
	}
}

func TestLine(t *testing.T) {
	got := Line("scoring", "rows", 50, 100, 2*time.Second)
	want := "scoring [===============               ]  50.0% 50/100 rows 25 rows/s"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := Line("publishing", "msgs", 10, 0, time.Second); got != "publishing 10 msgs 10 msgs/s" {
		t.Errorf("unknown total: %q", got)
	}
}
