//go:build !unix

package proccpu

import "time"

// Used returns 0: this platform does not report a process's CPU time.
func Used() time.Duration { return 0 }
