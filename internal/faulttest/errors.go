package faulttest

import "errors"

// ErrSetup reports that the test environment could not be prepared (no
// go.mod, no free port, a process that never became ready).
var ErrSetup = errors.New("faulttest: setup")

// ErrExited reports a process that ended while a test still needed it.
var ErrExited = errors.New("faulttest: process exited")
