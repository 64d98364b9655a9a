package service

import "fmt"

// checkFileLimit refuses an http.max_conns that could take more than half
// of the process's file descriptors (limit, RLIMIT_NOFILE; 0 when unknown):
// the other half is for the NATS connection, the embedded server's clients
// and routes, the JetStream store and the Parquet sink's files.
func checkFileLimit(maxConns int, limit uint64) error {
	if limit == 0 || uint64(maxConns) <= limit/2 {
		return nil
	}
	return fmt.Errorf("http.max_conns: %d could take most of the process's %d file descriptors (RLIMIT_NOFILE), "+
		"starving NATS and the JetStream store: set it to at most %d, or raise the limit", maxConns, limit, limit/2)
}
