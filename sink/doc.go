// Package sink writes what the scorer produces: the JSON result and error
// bodies shared by the async, sync and HTTP paths (body.go), the results
// publisher with its reply-subject copies, and the dead letters.
package sink
