package embedded

import "errors"

// ErrNotReady is returned when the embedded server does not accept
// connections within the start-up timeout.
var ErrNotReady = errors.New("embedded nats-server not ready for connections")
