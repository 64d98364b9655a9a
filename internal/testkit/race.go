//go:build race

package testkit

// RaceEnabled is true in a binary built with -race. Tests that count
// allocations need it: under -race, sync.Pool drops a quarter of what it is
// given on purpose, so a pooled buffer is allocated again now and then.
const RaceEnabled = true
