package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
		Use:   "health [URL]",
		Short: "Exit 0 when /readyz (or URL) answers 200 in time (for container health checks)",
		Long: "health sends GET URL (e.g. http://127.0.0.1:8989/readyz) and exits 0 only when the answer\n" +
			"is 200 within --timeout; otherwise it prints why and exits 1. Redirects are not followed.\n\n" +
			"Without URL it probes /readyz on http.addr as `scorer serve` reads it (--http-addr, then\n" +
			"SCORER_HTTP_ADDR, then the --config file, then the default 127.0.0.1:8989), with an\n" +
			"unspecified host (0.0.0.0, ::, empty) probed on 127.0.0.1: a container's HEALTHCHECK\n" +
			"follows the address the scorer was given.",
		Example: "  scorer health http://127.0.0.1:8989/healthz\n  SCORER_HTTP_ADDR=0.0.0.0:9090 scorer health   # probes http://127.0.0.1:9090/readyz",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var target string
			if len(args) == 1 {
				target = args[0]
			} else {
				cfg, err := loadConfig(cmd.Flags())
				if err != nil {
					return exitError{code: healthExitCode, err: err}
				}
				if target, err = readyURL(cfg.HTTP.Addr); err != nil {
					return exitError{code: healthExitCode, err: err}
				}
			}
			if err := checkHealth(cmd.Context(), target, timeout); err != nil {
				return exitError{code: healthExitCode, err: err}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&timeout, "timeout", timeout, "give up after this long")
	// Only the flags that can move the address: serve's other flags do not
	// matter here.
	f.String("config", "", "configuration file whose http.addr to probe when no URL is given")
	f.String("http-addr", "", "address to probe when no URL is given (key http.addr)")
	return cmd
}

// readyURL returns the /readyz URL of a server listening on addr: an
// unspecified host is reached on the IPv4 loopback, which a listener on
// all interfaces (the dual-stack "::" included) accepts.
func readyURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("health: http.addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
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
