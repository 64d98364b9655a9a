//go:build !unix

package loadtest

import "time"

// processCPU is unknown on this platform: the CPU column reads 0.
func processCPU() time.Duration { return 0 }
