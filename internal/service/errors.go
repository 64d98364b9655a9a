package service

import "errors"

// ErrLate is returned by Run when shutting down took longer than
// shutdown.timeout: messages still in flight were nak'ed for redelivery.
var ErrLate = errors.New("shutdown did not finish within shutdown.timeout")

// ErrSelfCheck is wrapped by the error of a model that loads but cannot
// score a row.
var ErrSelfCheck = errors.New("model self-check failed")

// ErrLoadTimeout reports a model load that did not finish within
// model.load_timeout (a read blocked on a hung mount, say); the load is
// abandoned.
var ErrLoadTimeout = errors.New("model load did not finish within model.load_timeout")

// ErrConnectionClosed is returned by Run when the NATS connection closed
// for good without being stopped (the scorer reconnects forever otherwise:
// credentials revoked, the server refusing it).
var ErrConnectionClosed = errors.New("NATS connection closed")
