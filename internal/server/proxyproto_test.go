package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/db"
)

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8, 192.0.2.7,::1 ,")
	if err != nil || len(got) != 3 || got[0].String() != "10.0.0.0/8" || got[1].String() != "192.0.2.7/32" || got[2].String() != "::1/128" {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := ParseTrustedProxies("10.0.0.0/8,lb.example"); err == nil || !strings.Contains(err.Error(), `"lb.example"`) {
		t.Fatalf("a host name: %v", err)
	}
}

// A balancer named by --proxy-protocol tells each connection's client address, which the
// audit log records, on HTTPS and SFTP; a balancer connection without the header is closed.
func TestProxyProtocol(t *testing.T) {
	cfg := config.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", SFTPAddr: "127.0.0.1:0", ProxyProtocol: "127.0.0.0/8"}
	c, _ := openCore(t, cfg, nil)
	if _, _, err := c.Bootstrap(t.Context(), "a-long-admin-password-42"); err != nil {
		t.Fatal(err)
	}
	h, err := c.ListenHTTPS()
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.ListenSFTP()
	if err != nil {
		t.Fatal(err)
	}
	go h.Serve()
	go s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		s.Shutdown(ctx)
	})
	dial := func(addr string, header *proxyproto.Header) net.Conn {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if header != nil {
			if _, err := header.WriteTo(conn); err != nil {
				t.Fatal(err)
			}
		}
		return conn
	}
	from := func(ip string) *proxyproto.Header {
		return proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443})
	}
	signIn := func(conn net.Conn) (int, error) { // a wrong password over HTTPS
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
		req, _ := http.NewRequest("POST", "https://coffer/api/v1/tokens", nil)
		req.SetBasicAuth("admin", "wrong password")
		if err := req.Write(tc); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(tc), req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	v1 := from("203.0.113.7")
	v1.Version = 1
	if code, err := signIn(dial(h.Addr().String(), v1)); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("HTTPS with a v1 header: %d, %v", code, err)
	}
	sshCfg := &ssh.ClientConfig{User: "admin", Auth: []ssh.AuthMethod{ssh.Password("wrong password")}, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}
	if _, _, _, err := ssh.NewClientConn(dial(s.Addr().String(), from("2001:db8::9")), s.Addr().String(), sshCfg); err == nil {
		t.Fatal("SFTP signed in with a wrong password")
	}
	if _, err := signIn(dial(h.Addr().String(), nil)); err == nil {
		t.Fatal("a balancer connection without a PROXY header was served")
	}
	local := proxyproto.HeaderProxyFromAddrs(2, nil, nil) // a health check
	local.Command = proxyproto.LOCAL
	if code, err := signIn(dial(h.Addr().String(), local)); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("HTTPS with a LOCAL header: %d, %v", code, err)
	}

	recs, err := c.DB.Q().AuditQuery(t.Context(), db.AuditFilter{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Result != "ok" {
			seen[r.Protocol+" "+r.SourceIP] = true
		}
	}
	for _, want := range []string{"https 203.0.113.7", "sftp 2001:db8::9", "https 127.0.0.1"} {
		if !seen[want] {
			t.Errorf("no failed sign-in audited for %s; audited: %v", want, seen)
		}
	}
	if len(seen) != 3 {
		t.Errorf("audited sources %v, want exactly those three", seen)
	}
}
