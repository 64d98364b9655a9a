// Package ingest is where loan applications come in, and its files say how:
//
//   - the one decoder of DESIGN.md's input rules (values.go): JSON objects
//     and arrays of values (decode.go, over the scanner of scan.go),
//     Parquet columns and CSV cells (table.go), JSON lines (lines.go), the
//     file formats (files.go); bad input is an *InputError (errors.go);
//   - the JetStream topology, subjects and stream defaults, written once
//     (topology.go, streams.go), result ids (id.go) and the Reply-To
//     allow-list (reply.go);
//   - the fetch mechanics of the async path (fetch.go): bounded fetches
//     yielding Deliveries that carry their own settle functions;
//   - the front doors: the sync micro service (sync.go, sync_answer.go) and
//     HTTP with the seed's POST /predict (http.go, http_conns.go).
//
// The front doors take the small interfaces they call, defined here
// (handoff.go): a Scorer for their Jobs (worker's batcher) and
// Bodies for their answers (sink's). Package ingest imports neither
// worker nor sink: data flows ingest → worker → sink. Its sub-package
// filepub is the client of `scorer ingest`.
package ingest
