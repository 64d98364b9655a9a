package embedded

import "errors"

// ErrNotReady is returned when the embedded server does not accept
// connections within the start-up timeout.
var ErrNotReady = errors.New("embedded nats-server not ready for connections")

// ErrDown is returned by Run when the embedded server went down without
// being stopped.
var ErrDown = errors.New("embedded nats-server went down")
