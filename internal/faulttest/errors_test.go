package faulttest

import "errors"

// ErrSetup reports that the test environment could not be prepared (no
// go.mod, no free port, a process that never became ready).
var ErrSetup = errors.New("faulttest: setup")
