//go:build unix

package main

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user plus system) this process has used;
// bench --explain compares CPU times, which a busy machine does not inflate
// the way it inflates wall-clock times.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
