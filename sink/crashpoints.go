package sink

// Crash points of the Parquet sink's commit, in the order a commit passes
// them. Each is a place where a real crash (kill -9, power loss of the
// process) would leave the directory in a different state. The sink calls
// ParquetOptions.Crash with the point's name as it passes it; the
// exactly-once tests have the process exit there (cmd/scorer maps the
// test-only SCORER_FAILPOINT onto such a hook). Production passes no hook.
const (
	// FailAfterWrite is passed once the temporary file holds the whole
	// Parquet file (footer included) but before it is fsynced.
	FailAfterWrite = "sink.after_write"
	// FailAfterFsync is passed after the temporary file is fsynced, before
	// the rename to its final name.
	FailAfterFsync = "sink.after_fsync"
	// FailAfterRename is passed after the rename and the directory fsync,
	// before the messages are acknowledged.
	FailAfterRename = "sink.after_rename"
)

// CrashPoints lists the crash points in commit order.
func CrashPoints() []string { return []string{FailAfterWrite, FailAfterFsync, FailAfterRename} }
