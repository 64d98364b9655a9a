package main

import (
	"errors"
	"testing"

	"github.com/loan-scorer/loan-scorer/sink"
)

func TestParseFailpoint(t *testing.T) {
	t.Parallel()
	if crash, err := parseFailpoint(""); crash != nil || err != nil {
		t.Errorf("parseFailpoint(\"\") = %v, %v; want no hook", crash != nil, err)
	}
	for _, name := range []string{sink.FailAfterWrite, sink.FailAfterFsync, sink.FailAfterRename} {
		crash, err := parseFailpoint(name)
		if err != nil || crash == nil {
			t.Errorf("parseFailpoint(%q) = %v, %v", name, crash != nil, err)
			continue
		}
		for _, other := range sink.CrashPoints() {
			if other != name {
				crash(other) // passing another point must not exit
			}
		}
	}
	if _, err := parseFailpoint("sink.after_lunch"); !errors.Is(err, errUnknownFailpoint) {
		t.Errorf("unknown failpoint: %v", err)
	}
}
