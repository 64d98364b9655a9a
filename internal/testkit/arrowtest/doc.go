// Package arrowtest reads and writes Parquet files in tests with Apache
// Arrow's Go implementation (github.com/apache/arrow-go), a second Parquet
// implementation independent of the parquet-go the scorer writes with: a
// file both agree on is a file other readers (DuckDB, pyarrow, Spark) can
// be expected to read. Only tests import it.
package arrowtest
