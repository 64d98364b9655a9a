package loadtest

import "errors"

// ErrConfig is wrapped by every configuration error (Validate).
var ErrConfig = errors.New("invalid load test configuration")

// ErrFailed is wrapped by the error of a request the target answered with
// an error: an HTTP status other than 200, a sync reply with a
// Nats-Service-Error header, or an async result carrying an error body.
var ErrFailed = errors.New("request failed")

// ErrNoRequests means a run ended before a single request completed.
var ErrNoRequests = errors.New("no request completed")
