// Package proccpu reads the CPU time this process has used. Benchmarks
// compare CPU times beside wall-clock ones because a busy, shared machine
// inflates the wall clock but not the CPU a measured piece of work takes;
// callers show 0 as "unknown".
package proccpu
