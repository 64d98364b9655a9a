// Package progress draws a one-line progress bar with a rate (rows/s) on
// a terminal, and nothing at all when the output is not a terminal (a
// pipe, a file, CI logs), so scripts see only the commands' summaries.
package progress
