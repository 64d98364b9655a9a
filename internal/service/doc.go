// Package service runs `scorer serve`, and is the one place the scorer is
// wired: it joins or starts NATS, sets up the streams and the durable
// consumer, builds every component (the NATS connection, the batcher, the
// async consumer and its reaper, the sync micro service, the HTTP server,
// the Parquet sink, model reloads) and runs them under one errgroup until
// its context ends or one of them fails for good; then it stops them all
// in DESIGN.md's order (lifecycle.go, the one place that order is written)
// within shutdown.timeout. Each component has the same stop shape: Run
// serves until Stop ends it.
//
// Config is the whole configuration tree of the scorer (every key of
// configs/scorer.yaml); cmd/scorer fills it with viper and calls Run.
package service
