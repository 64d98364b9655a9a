// Package bulk scores whole files (`scorer score IN -o OUT`): Parquet,
// CSV or JSON lines in, the same rows out in the same order with the
// model's output appended (default_proba for a binary classifier).
//
// The file streams through a parallel, ordered pipeline. A dispatcher cuts
// the input into units: up to one output row group of consecutive rows of
// a Parquet file (pieces of its row groups; a row group with an offset
// index is cut anywhere, one without is read whole by one worker), or a
// block of whole CSV records or JSON lines (cut at line ends, never inside
// a quoted CSV field). Workers (one per core by default) each take a unit:
// a Parquet unit is decoded page by page, column by column, straight into
// the worker's model.Batch with the value rules of package ingest (a
// converter per column), scored, and encoded column by column, compressed
// included, into a row group of its own; a text unit is parsed, scored and
// formatted into a buffer of its own. One committer writes the units in
// input order. At most a window of units is in flight, so memory does not
// depend on the file's length; it grows with the column count (about
// 50 KB a column for each row group in flight, up to Options.MaxColumns,
// 10,000 by default, with fewer row groups in flight for wide files) and
// with the input's pages, one of every column held by each worker (up to
// Options.MaxPageBytes, 1 GiB by default, estimated from the footer);
// inputs over either are refused. The output is written under a temporary
// name in its directory and renamed when complete: a failure (a corrupt or
// truncated input included) leaves no partial output, and the error
// reported is the first in input order.
//
// With Options.Explain K > 0 each worker also ranks its batch's scored
// rows' top K reasons (model/reason.Ranker, as results get them) and
// writes them with the rows, in 2K reason columns (reasons.go), or as
// "reasons" on a JSON line; whatever K, a CatBoost model's unseen
// categorical values are counted per unit and summed by the committer
// into Stats.Unseen.
package bulk
