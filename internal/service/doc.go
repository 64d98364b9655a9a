// Package service runs `scorer serve`: it joins or starts NATS, sets up the
// streams and the durable consumer, and runs the async consumer, the sync
// micro service and the HTTP server over one micro-batcher, until its
// context ends; then it shuts down in DESIGN.md's order within
// shutdown.timeout. It reloads the model when asked (SIGHUP).
//
// Config is the whole configuration tree of the scorer (every key of
// configs/scorer.yaml); cmd/scorer fills it with viper and calls Run.
package service
