package sftpd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/sftpd"
)

// The server-wide cap refuses a session of another user once it is reached.
func TestServerWideSessionLimit(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{MaxSessions: 2})
	for _, u := range []string{"u1", "u2", "u3"} {
		e.User(t, u, 0)
	}
	e.login(t, "u1")
	e.login(t, "u2")
	sc, _, err := e.sshDial(t, "u3", ssh.Password("password-of-u3"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := sftp.NewClient(sc); err == nil || !strings.Contains(err.Error(), "maximum") {
		t.Fatalf("a third session over a server-wide limit of 2: %v", err)
	}
}

// A connection on which the client sends nothing for IdleTimeout is closed.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{IdleTimeout: 300 * time.Millisecond})
	e.User(t, "idle", 0)
	c, nc := e.login(t, "idle")
	if _, err := c.Getwd(); err != nil {
		t.Fatal(err)
	}
	// Wait for the server to close the connection: a read on the raw connection ends
	// then (bounded by a deadline far beyond the timeout, so this cannot hang).
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	buf := make([]byte, 1)
	for {
		if _, err := nc.Read(buf); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("the idle connection was still open after 20s")
			}
			break
		}
	}
	if time.Since(start) < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", time.Since(start))
	}
	if _, err := c.Getwd(); err == nil {
		t.Fatal("the SFTP client still works on a connection the server closed")
	}
}
