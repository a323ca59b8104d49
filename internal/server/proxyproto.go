package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/coffer-mft/coffer/internal/defender"
)

// Behind a TCP load balancer every connection comes from the balancer's address, which
// would then be what the audit log records and what the per-address lockout counts: one
// attacker would lock everybody out. The PROXY protocol (v1 or v2, as HAProxy, nginx,
// AWS NLB and others send it) makes the balancer tell each connection's real client
// address first. --proxy-protocol names the balancers' addresses: a connection from
// one of them must start with a PROXY header, or it is closed (failing closed: a
// balancer without send-proxy must not make every client look like the balancer);
// a connection from elsewhere is served as it is, and a header it sends is just bytes
// that fail the TLS or SSH handshake.

// proxyHeaderTimeout is how long a balancer's connection may take to send its header.
const proxyHeaderTimeout = 10 * time.Second

// ParseTrustedProxies parses a comma-separated list of addresses and CIDR prefixes.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	out, err := defender.ParseList(list)
	if err != nil {
		return nil, fmt.Errorf("--proxy-protocol: %w", err)
	}
	return out, nil
}

// proxyListener is a listener whose connections from trusted balancers carry a PROXY
// header; it reads the header in the background, so that a slow balancer connection
// does not hold up Accept, and hands on connections whose RemoteAddr is the client's.
type proxyListener struct {
	net.Listener
	trusted []netip.Prefix
	log     *slog.Logger
	conns   chan net.Conn
	errc    chan error
	done    chan struct{}
	once    sync.Once
}

// withProxyProtocol wraps ln when trusted is not empty.
func withProxyProtocol(ln net.Listener, trusted []netip.Prefix, log *slog.Logger) net.Listener {
	if len(trusted) == 0 {
		return ln
	}
	l := &proxyListener{Listener: ln, trusted: trusted, log: log, conns: make(chan net.Conn), errc: make(chan error, 1), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *proxyListener) run() {
	wait := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.errc <- err
				return
			}
			// Out of file descriptors and the like: wait and try again, as net/http does.
			l.log.Warn("accepting a connection failed", "err", err)
			time.Sleep(wait)
			wait = min(2*wait, time.Second)
			continue
		}
		wait = 5 * time.Millisecond
		if !l.isTrusted(c.RemoteAddr()) {
			l.deliver(c)
			continue
		}
		go func() {
			pc, err := readProxyHeader(c)
			if err != nil {
				level := slog.LevelWarn
				if errors.Is(err, io.EOF) {
					level = slog.LevelDebug // closed without a byte: a balancer's TCP health check
				}
				l.log.Log(context.Background(), level, "closed a connection from a --proxy-protocol balancer without a valid PROXY header", "from", c.RemoteAddr(), "err", err)
				c.Close()
				return
			}
			l.deliver(pc)
		}()
	}
}

func (l *proxyListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *proxyListener) isTrusted(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range l.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Accept returns the next connection, from a balancer with its client's address.
func (l *proxyListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errc:
		l.errc <- err // for the next caller
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops the listener; connections still reading their header are closed.
func (l *proxyListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// proxiedConn is a connection whose header was read: reads continue from the buffer
// that may hold the first bytes after the header.
type proxiedConn struct {
	net.Conn
	r      *bufio.Reader
	remote net.Addr
}

func (c *proxiedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
func (c *proxiedConn) RemoteAddr() net.Addr       { return c.remote }

// readProxyHeader reads the PROXY header at the start of c. A LOCAL header (a
// balancer's health check) keeps the balancer's own address.
func readProxyHeader(c net.Conn) (net.Conn, error) {
	r := bufio.NewReader(c)
	if err := c.SetReadDeadline(time.Now().Add(proxyHeaderTimeout)); err != nil {
		return nil, err
	}
	if _, err := r.Peek(1); err != nil {
		return nil, err // io.EOF: closed without sending anything
	}
	h, err := proxyproto.Read(r)
	if err != nil {
		return nil, err
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, err
	}
	pc := &proxiedConn{Conn: c, r: r, remote: c.RemoteAddr()}
	if !h.Command.IsLocal() {
		src, _, ok := h.TCPAddrs()
		if !ok {
			return nil, fmt.Errorf("the header names a %v connection, not TCP", h.TransportProtocol)
		}
		pc.remote = src
	}
	return pc, nil
}
