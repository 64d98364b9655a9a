package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/loan-scorer/loan-scorer/sink"
)

// exitNotFound is `scorer result`'s exit status when the id has no stored
// result (or dead letter), so scripts can tell it from a failure to ask.
const exitNotFound = 3

func newResultCmd() *cobra.Command {
	var dlq, headers bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "result ID",
		Short: "Print the result stored for an id (its Nats-Msg-Id), fetched by its subject",
		Long: `result prints the result the scorer stored for ID, the application's Nats-Msg-Id (or
the LOANS:<sequence> id of a message published without one): each result is stored once, on
its own subject <subjects.results>.<token> in results.stream, so it is one look-up, no scan.
The token is ID itself when every byte is printable ASCII other than '.', '*', '>' and '~',
else '~' and the unpadded base64url of ID (app.1 -> loans.scored.~YXBwLjE): the same look-up
as nats stream get LOANS_SCORED -S loans.scored.<token>.

The body goes to stdout, one line of JSON; --headers first prints the stored headers (Model,
Scored-At, Error-Code, ...) as "Name: value" lines. --dlq prints the dead letter stored for ID
instead (dlq.stream, <subjects.dlq>.<token>): the original payload, with --headers the
reason. An id with nothing stored (not scored yet, never published, expired after
results.max_age, or stored by a scorer of a version before results were stored per id) is
an error naming the subject and the stream, with exit status 3.

It reads the same configuration as serve (--config, SCORER_* variables, NATS_URL; the nats.*
keys for the URL, credentials and TLS; subjects.* and results.stream / dlq.stream).`,
		Example: "  scorer result app-1\n  scorer result app-1 --headers --nats-url nats://127.0.0.1:4222\n  scorer result app-1 --dlq --headers",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, nc, err := clientConn(cmd.Flags(), "loan-scorer result", cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return fmt.Errorf("jetstream: %w", err)
			}
			stream, base, what := cfg.Results.Stream, cfg.Subjects.Results, "result"
			if dlq {
				stream, base, what = cfg.DLQ.Stream, cfg.Subjects.DLQ, "dead letter"
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return printStored(ctx, cmd.OutOrStdout(), js, stream, sink.IDSubject(base, args[0]), what, args[0], headers)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dlq, "dlq", false, "print the dead letter stored for the id instead of its result")
	f.BoolVar(&headers, "headers", false, "print the stored headers before the body")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "bound of the look-up")
	addClientFlags(f)
	return cmd
}

// printStored prints the message stored on subject in stream: its
// headers (sorted, when asked) and its body.
func printStored(ctx context.Context, w io.Writer, js jetstream.JetStream, stream, subject, what, id string, headers bool) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	msg, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return exitError{code: exitNotFound, err: fmt.Errorf("no %s stored for id %q: nothing on %s in stream %s "+
			"(not scored yet, never published, expired after its max age, or stored by a scorer from before results were stored per id)",
			what, id, subject, stream)}
	}
	if err != nil {
		return fmt.Errorf("get %s from stream %s: %w", subject, stream, err)
	}
	if headers {
		names := make([]string, 0, len(msg.Header))
		for k := range msg.Header {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			for _, v := range msg.Header[k] {
				fmt.Fprintf(w, "%s: %s\n", k, v)
			}
		}
		fmt.Fprintf(w, "Stream-Sequence: %d\nStored-At: %s\n\n", msg.Sequence, msg.Time.UTC().Format(time.RFC3339Nano))
	}
	if _, err := w.Write(msg.Data); err != nil {
		return err
	}
	_, err = fmt.Fprintln(w)
	return err
}
