package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealth(t *testing.T) {
	t.Parallel()
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
		{"no argument", []string{"health"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := run(c.args); got != c.want {
				t.Errorf("scorer %v exited %d, want %d", c.args, got, c.want)
			}
		})
	}
}
