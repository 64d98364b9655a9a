//go:build !unix

package main

import "time"

// processCPU is unknown on this platform: bench reports wall-clock times
// only.
func processCPU() time.Duration { return 0 }
