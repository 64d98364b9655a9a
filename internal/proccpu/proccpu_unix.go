//go:build unix

package proccpu

import (
	"syscall"
	"time"
)

// Used returns the CPU time (user plus system) this process has used so
// far, or 0 where the platform cannot tell.
func Used() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
