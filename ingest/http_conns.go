package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// ListenHTTP listens on cfg.Addr for srv (a server from NewHTTPServer,
// not yet serving) and caps the connections it holds open at
// cfg.MaxConns, so that HTTP clients can never take the file descriptors
// the NATS connection, the embedded server and the JetStream store need.
//
// At the cap the listener first closes the connection idle the longest (a
// keep-alive connection between requests, as srv.ConnState reports it),
// then accepts; when none is idle it accepts nothing until a connection
// closes, so new clients wait in the kernel's listen queue. A keep-alive
// client whose idle connection is closed reconnects, as it would after
// http.idle_timeout; a request that raced the close on that connection
// sees it reset. ListenHTTP sets srv.ConnState, calling the hook srv
// already had, if any. Closing the listener (srv.Shutdown does) ends a
// wait for a free slot.
func ListenHTTP(srv *http.Server, cfg HTTPConfig) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("http.addr %s: %w", cfg.Addr, err)
	}
	lim := &connLimit{max: cfg.MaxConns, idle: map[*limitedConn]time.Time{}, changed: make(chan struct{}, 1), closed: make(chan struct{})}
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		lim.connState(c, st)
		if next != nil {
			next(c, st)
		}
	}
	return &limitListener{Listener: ln, lim: lim}, nil
}

// HTTPDoor serves an HTTP server (NewHTTPServer) on its listener
// (ListenHTTP) with the service's stop shape.
type HTTPDoor struct {
	Server   *http.Server
	Listener net.Listener
}

// Run serves until Stop and then returns nil, or returns the error that
// ended serving (the listener failing).
func (h HTTPDoor) Run(context.Context) error {
	if err := h.Server.Serve(h.Listener); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP on %s: %w", h.Listener.Addr(), err)
	}
	return nil
}

// Stop closes the listener and waits for the requests in progress
// (http.Server.Shutdown), until ctx ends.
func (h HTTPDoor) Stop(ctx context.Context) error {
	if err := h.Server.Shutdown(ctx); err != nil {
		return fmt.Errorf("stop HTTP server: %w", err)
	}
	return nil
}

// connLimit counts a listener's open connections and knows which are idle.
type connLimit struct {
	max int

	mu   sync.Mutex
	open int
	// idle maps each idle connection to when it became idle; a scan finds
	// the oldest (at most max entries, and only at the cap).
	idle map[*limitedConn]time.Time

	changed   chan struct{} // a slot freed or a connection went idle (buffered, 1)
	closed    chan struct{} // the listener closed
	closeOnce sync.Once
}

// acquire takes a slot for the next connection, closing the longest idle
// connection at the cap, or waiting until one closes or goes idle when
// none is idle.
func (l *connLimit) acquire() error {
	for {
		l.mu.Lock()
		if l.open < l.max {
			l.open++
			l.mu.Unlock()
			return nil
		}
		victim := l.oldestIdle()
		l.mu.Unlock()
		if victim != nil {
			_ = victim.Close() // frees its slot now
			continue
		}
		select {
		case <-l.changed:
		case <-l.closed:
			return net.ErrClosed
		}
	}
}

// oldestIdle removes the connection idle the longest from the idle set and
// returns it, or nil when none is idle. l.mu is held.
func (l *connLimit) oldestIdle() *limitedConn {
	var oldest *limitedConn
	var since time.Time
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	if oldest != nil {
		delete(l.idle, oldest)
	}
	return oldest
}

// release frees c's slot.
func (l *connLimit) release(c *limitedConn) {
	l.mu.Lock()
	delete(l.idle, c)
	l.open--
	l.mu.Unlock()
	l.wake()
}

// wake tells a waiting acquire to look again.
func (l *connLimit) wake() {
	select {
	case l.changed <- struct{}{}:
	default: // a wakeup is already pending
	}
}

// connState tracks which connections are idle (http.Server.ConnState).
func (l *connLimit) connState(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	if lc.closed {
		l.mu.Unlock()
		return // closed already: do not resurrect it as idle
	}
	if st != http.StateIdle {
		delete(l.idle, lc)
		l.mu.Unlock()
		return
	}
	l.idle[lc] = time.Now()
	l.mu.Unlock()
	l.wake() // an accept waiting at the cap can close it now
}

// limitListener is a listener whose connections hold a slot of lim.
type limitListener struct {
	net.Listener
	lim *connLimit
}

// Accept waits for a slot, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	if err := l.lim.acquire(); err != nil {
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		l.lim.mu.Lock()
		l.lim.open--
		l.lim.mu.Unlock()
		return nil, err
	}
	return &limitedConn{Conn: c, lim: l.lim}, nil
}

// Close stops listening and ends a wait for a slot.
func (l *limitListener) Close() error {
	l.lim.closeOnce.Do(func() { close(l.lim.closed) })
	return l.Listener.Close()
}

// limitedConn frees its slot when closed, once, by the server or by the
// limit closing it while idle.
type limitedConn struct {
	net.Conn
	lim    *connLimit
	closed bool // under lim.mu
}

// Close closes the connection and frees its slot.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.lim.mu.Lock()
	first := !c.closed
	c.closed = true
	c.lim.mu.Unlock()
	if first {
		c.lim.release(c)
	}
	return err
}

// CloseWrite half-closes the connection when the underlying one can (TCP
// does): http.Server uses it to let a client read an error response before
// the connection closes.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
