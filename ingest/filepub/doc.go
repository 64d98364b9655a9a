// Package filepub is the client side of `scorer ingest`: it publishes
// every row of a Parquet or JSON lines file as one JSON application to the
// async input subject, with ids that make a re-run idempotent, and can wait
// for every row's result on the results stream.
package filepub
