package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	// Not parallel: the no-URL cases set SCORER_HTTP_ADDR (t.Setenv).
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer ok.Close()
	unready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer unready.Close()
	redirect := httptest.NewServer(http.RedirectHandler(ok.URL, http.StatusFound))
	defer redirect.Close()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)

	// A port nobody listens on: bind one, note it, close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/healthz"
	l.Close()

	for _, c := range []struct {
		name string
		args []string
		want int
	}{
		{"200", []string{"health", ok.URL + "/healthz"}, 0},
		{"503", []string{"health", unready.URL + "/readyz"}, 1},
		{"redirect is not 200", []string{"health", redirect.URL}, 1},
		{"nothing listening", []string{"health", closed}, 1},
		{"timeout", []string{"health", "--timeout", "200ms", slow.URL}, 1},
		{"not a URL", []string{"health", "localhost:8989"}, 1},
		{"two arguments", []string{"health", ok.URL, ok.URL}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := run(c.args); got != c.want {
				t.Errorf("scorer %v exited %d, want %d", c.args, got, c.want)
			}
		})
	}

	// Without a URL the probe goes to /readyz on http.addr as serve reads
	// it: the flag, then SCORER_HTTP_ADDR, then the file.
	readyz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer readyz.Close()
	readyAddr := readyz.Listener.Addr().String()
	_, readyPort, _ := net.SplitHostPort(readyAddr)
	unreadyAddr := unready.Listener.Addr().String()
	closedAddr := strings.TrimSuffix(strings.TrimPrefix(closed, "http://"), "/healthz")
	file := filepath.Join(t.TempDir(), "scorer.yaml")
	if err := os.WriteFile(file, []byte("http:\n  addr: "+readyAddr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		env  string // SCORER_HTTP_ADDR; empty: unset
		args []string
		want int
	}{
		{"env: ready", readyAddr, nil, 0},
		{"env: 0.0.0.0 probed on loopback", "0.0.0.0:" + readyPort, nil, 0},
		{"env: empty host probed on loopback", ":" + readyPort, nil, 0},
		{"env: unready", unreadyAddr, nil, 1},
		{"env: nothing listening", closedAddr, nil, 1},
		{"env: not an address", "8989", nil, 1},
		{"flag over env", closedAddr, []string{"--http-addr", readyAddr}, 0},
		{"file", "", []string{"--config", file}, 0},
		{"env over file", closedAddr, []string{"--config", file}, 1},
	} {
		t.Run("no URL/"+c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("SCORER_HTTP_ADDR", c.env)
			} else {
				t.Setenv("SCORER_HTTP_ADDR", "")
				os.Unsetenv("SCORER_HTTP_ADDR")
			}
			args := append([]string{"health"}, c.args...)
			if got := run(args); got != c.want {
				t.Errorf("SCORER_HTTP_ADDR=%q scorer %v exited %d, want %d", c.env, args, got, c.want)
			}
		})
	}
}

func TestReadyURL(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"0.0.0.0:8989", "http://127.0.0.1:8989/readyz"},
		{"[::]:8989", "http://127.0.0.1:8989/readyz"},
		{":8989", "http://127.0.0.1:8989/readyz"},
		{"127.0.0.1:9090", "http://127.0.0.1:9090/readyz"},
		{"[::1]:8989", "http://[::1]:8989/readyz"},
		{"scorer-1:8989", "http://scorer-1:8989/readyz"},
	} {
		got, err := readyURL(c.addr)
		if err != nil || got != c.want {
			t.Errorf("readyURL(%q) = %q, %v; want %q", c.addr, got, err, c.want)
		}
	}
	if _, err := readyURL("8989"); err == nil {
		t.Error("readyURL(\"8989\") = nil error, want one (no port)")
	}
}
