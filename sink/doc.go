// Package sink is where results go: the JSON result and error bodies of
// every path (body.go; Bodies is what the front doors answer with), the
// results publisher with its Reply-To copies (publisher.go), result and
// dead-letter subjects one per id (subject.go), the dead letters
// (deadletter.go) and the exactly-once Parquet sink of the results stream
// (parquet*.go, with its crash points in crashpoints.go). It imports
// neither ingest nor worker: a result is known by its id and its
// model.Loaded.
package sink
