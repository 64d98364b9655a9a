package faulttest

import "github.com/loan-scorer/loan-scorer/internal/testkit"

// The workload lives in testkit, shared with internal/containercheck; the
// fault suite uses it under its own short names.
type (
	Publisher = testkit.Publisher
	Result    = testkit.Result
	Tally     = testkit.Tally
)

var (
	App           = testkit.App
	ID            = testkit.ID
	StreamMsgs    = testkit.StreamMsgs
	ReadStream    = testkit.ReadStream
	ParquetIDs    = testkit.ParquetIDs
	ConsumerState = testkit.ConsumerState
	ConsumerInfo  = testkit.ConsumerInfo
	WaitStream    = testkit.WaitStream
)
