package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
)

// TestUserAccess: the CLI sets, shows and clears a user's limits, refuses bad ones with a
// message and exit code, and the limits refuse a sign-in they do not allow.
func TestUserAccess(t *testing.T) {
	c := newCLI(t, "")
	if code, _, stderr := c.run("correct horse battery staple\n", "user", "add", "alice", "--password-stdin"); code != exitOK {
		t.Fatal(stderr)
	}
	code, stdout, stderr := c.run("", "user", "access", "alice", "--allowed-ips", "10.0.0.0/8", "--protocols", "sftp")
	if code != exitOK || !strings.Contains(stdout, "from 10.0.0.0/8, over sftp") {
		t.Fatalf("access: %d %q %q", code, stdout, stderr)
	}
	if code, stdout, _ := c.run("", "user", "show", "alice"); code != exitOK || !strings.Contains(stdout, "10.0.0.0/8") {
		t.Fatalf("show: %q", stdout)
	}
	core := c.core()
	if _, err := core.Auth.Password(context.Background(), "alice", "correct horse battery staple", auth.Client{IP: "127.0.0.1", Protocol: audit.SFTP}); !errs.Is(errs.Unauthenticated, err) || auth.AccessRefusal(err) == "" {
		t.Fatalf("sign-in from outside the list: %v", err)
	}
	// An SSH key from outside the list is refused too (counted nowhere: it is no guess).
	pubKey, _, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := ssh.NewPublicKey(pubKey)
	if code, _, stderr := c.run(string(ssh.MarshalAuthorizedKey(pub)), "user", "key", "add", "alice", "--file", "-"); code != exitOK {
		t.Fatal(stderr)
	}
	if _, err := core.Auth.PublicKey(context.Background(), "alice", pub, auth.Client{IP: "127.0.0.1", Protocol: audit.SFTP}); !errs.Is(errs.Unauthenticated, err) || auth.AccessRefusal(err) == "" {
		t.Fatalf("key sign-in from outside the list: %v", err)
	}
	if _, err := core.Auth.PublicKey(context.Background(), "alice", pub, auth.Client{IP: "10.9.8.7", Protocol: audit.SFTP}); err != nil {
		t.Fatalf("key sign-in from inside the list: %v", err)
	}
	if code, _, stderr := c.run("", "user", "access", "alice", "--allowed-ips", "10.0.0.0/99"); code == exitOK || !strings.Contains(stderr, "neither an address nor a CIDR prefix") {
		t.Fatalf("bad CIDR: %d %q", code, stderr)
	}
	if code, _, stderr := c.run("", "user", "access", "alice", "--protocols", "ftp"); code == exitOK || !strings.Contains(stderr, "unknown protocol") {
		t.Fatalf("bad protocol: %d %q", code, stderr)
	}
	if code, _, _ := c.run("", "user", "access", "alice"); code != exitUsage {
		t.Fatalf("no flag: %d", code)
	}
	if code, stdout, _ := c.run("", "user", "access", "alice", "--allowed-ips", "", "--protocols", ""); code != exitOK || !strings.Contains(stdout, "anywhere, over all protocols") {
		t.Fatalf("clear: %q", stdout)
	}
}
