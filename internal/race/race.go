//go:build race

// Package race reports whether the race detector is on. Tests that count
// allocations need it: under -race, sync.Pool drops a quarter of what it is
// given on purpose, so a pooled buffer is allocated again now and then.
package race

// Enabled is true in a binary built with -race.
const Enabled = true
