// Package bulk scores whole files (`scorer score IN -o OUT`): Parquet,
// CSV or JSON lines in, the same rows out in the same order with the
// model's output appended (default_proba for a binary classifier).
//
// The file streams through a bounded pipeline: one reader cuts it into
// chunks of rows, N scorers (one per core by default) map each chunk onto
// their own model.Batch with the JSON path's type rules (package ingest)
// and predict, and one writer puts the chunks back in order. A fixed number
// of chunks circulates, so memory does not depend on the file's size; rows
// per chunk, output pages and row groups shrink as columns grow, so what
// is left grows with the column count (about 50 KB a column, up to
// Options.MaxColumns, 10,000 by default) and with the input's pages, one
// of every column held at once (up to Options.MaxPageBytes, 1 GiB by
// default, estimated from the footer); inputs over either are refused. The
// output is written under a temporary name in its directory and renamed
// when complete: a failure (a corrupt or truncated input included) leaves
// no partial output.
package bulk
