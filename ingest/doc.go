// Package ingest is how loan applications enter the scorer: JSON decoding
// against the model's feature schema (decode.go), the JetStream consumer of
// the async path, the sync NATS micro service (sync.go) and the HTTP server
// with the seed-compatible POST /predict (http.go).
//
// Every path decodes with a Decoder built for the current model, hands the
// rows to the process's worker.Batcher and answers from the batcher's Done
// callback with the bodies of package sink.
package ingest
