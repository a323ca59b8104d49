// Package cluster holds what runs several Coffer nodes as one service in tests and
// benchmarks: Proxy, a round-robin TCP proxy standing in for the load balancer of a
// cluster (docs/deploy.md). The cluster tests themselves are in this package's tests.
package cluster

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
)

// Proxy passes each TCP connection it accepts to the next of its backends in turn. A
// backend that refuses the connection is skipped for the next one, as a load balancer
// retries another server when a connection fails (HAProxy's "option redispatch"), so
// that a dead node costs new connections nothing but a refused dial. It can tell the
// backends each client's address with the PROXY protocol, as HAProxy's send-proxy-v2 does.
type Proxy struct {
	ln   net.Listener
	dial time.Duration

	// Set before Serve:
	From        net.IP // the address to connect to backends from; nil = any
	ProxyHeader bool   // start each backend connection with a PROXY v2 header naming the client

	mu       sync.Mutex
	backends []string
	next     int
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// NewProxy listens on addr ("127.0.0.1:0" for any port) for backends.
func NewProxy(addr string, backends []string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Proxy{ln: ln, dial: 2 * time.Second, backends: backends, conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetBackends replaces the backends; connections already passed on stay where they are.
func (p *Proxy) SetBackends(backends []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backends = append([]string(nil), backends...)
}

// Serve accepts connections until Close.
func (p *Proxy) Serve() error {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if !p.admit(c) {
			c.Close()
			return nil
		}
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			p.pass(c)
		}()
	}
}

// admit tracks a client connection and counts its goroutine; false when the proxy is closed.
func (p *Proxy) admit(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	p.wg.Add(1)
	return true
}

// track adds or removes c from the open connections; false when the proxy is closed.
func (p *Proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.conns, c)
		return true
	}
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// pick returns the backends in the order to try them for the next connection.
func (p *Proxy) pick() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.backends)
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, p.backends[(p.next+i)%n])
	}
	if n > 0 {
		p.next = (p.next + 1) % n
	}
	return out
}

func (p *Proxy) pass(c net.Conn) {
	defer c.Close()
	var b net.Conn
	d := net.Dialer{Timeout: p.dial}
	if p.From != nil {
		d.LocalAddr = &net.TCPAddr{IP: p.From}
	}
	for _, addr := range p.pick() {
		var err error
		if b, err = d.Dial("tcp", addr); err == nil {
			break
		}
	}
	if b == nil {
		return // no backend answers: the client sees the connection close
	}
	if p.ProxyHeader {
		if _, err := proxyproto.HeaderProxyFromAddrs(2, c.RemoteAddr(), c.LocalAddr()).WriteTo(b); err != nil {
			b.Close()
			return
		}
	}
	if !p.track(b, true) {
		b.Close()
		return
	}
	defer p.track(b, false)
	defer b.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyHalf(b, c)
	}()
	copyHalf(c, b)
	<-done
}

// copyHalf copies src to dst, then half-closes dst so that its peer sees the end; when
// the copy fails, both ends are closed so that the other direction ends too.
func copyHalf(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		src.Close()
		return
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
		return
	}
	dst.Close()
}

// Close stops accepting, closes every connection and waits for them.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}
