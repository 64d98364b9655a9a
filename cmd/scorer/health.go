package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// healthExitCode is the exit code of `scorer health` when the URL does not
// answer 200 in time (Docker's HEALTHCHECK treats any non-zero as unhealthy).
const healthExitCode = 1

func newHealthCmd() *cobra.Command {
	timeout := 3 * time.Second
	cmd := &cobra.Command{
		Use:   "health URL",
		Short: "Exit 0 when URL answers 200 within the timeout (for container health checks)",
		Long: "health sends GET URL (e.g. http://127.0.0.1:8989/readyz) and exits 0 only when the answer\n" +
			"is 200 within --timeout; otherwise it prints why and exits 1. Redirects are not followed.",
		Example: "  scorer health http://127.0.0.1:8989/healthz",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkHealth(cmd.Context(), args[0], timeout); err != nil {
				return exitError{code: healthExitCode, err: err}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "give up after this long")
	return cmd
}

// checkHealth returns nil when GET rawURL answers 200 within timeout.
func checkHealth(ctx context.Context, rawURL string, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("health: %q is not an http(s) URL", rawURL)
	}
	if timeout <= 0 {
		return errors.New("health: --timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("health: build request for %s: %w", u.Redacted(), err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health: GET %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: GET %s answered %s", u.Redacted(), resp.Status)
	}
	return nil
}
