package service

import (
	"strings"
	"testing"
)

func TestCheckFileLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		maxConns int
		limit    uint64
		ok       bool
	}{
		{1024, 20000, true},
		{1024, 2048, true},
		{1025, 2048, false},
		{1024, 1024, false}, // HTTP alone could take every descriptor
		{1 << 16, 0, true},  // limit unknown
	} {
		err := checkFileLimit(tc.maxConns, tc.limit)
		if (err == nil) != tc.ok {
			t.Errorf("max_conns %d, limit %d: %v, want ok=%v", tc.maxConns, tc.limit, err, tc.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "http.max_conns") || !strings.Contains(err.Error(), "at most")) {
			t.Errorf("error does not name the key and the way out: %v", err)
		}
	}
}
