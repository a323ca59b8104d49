package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
)

func TestUserKeys(t *testing.T) {
	c := newCLI(t, "")
	if code, _, stderr := c.run("", "user", "add", "alice"); code != exitOK {
		t.Fatal(stderr)
	}
	pubKey, _, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := ssh.NewPublicKey(pubKey)
	file := filepath.Join(t.TempDir(), "id.pub")
	os.WriteFile(file, ssh.MarshalAuthorizedKey(pub), 0o644)

	code, stdout, stderr := c.run("", "user", "key", "add", "alice", "--file", file)
	if code != exitOK || !strings.Contains(stdout, ssh.FingerprintSHA256(pub)) {
		t.Fatalf("key add: %d %q %q", code, stdout, stderr)
	}
	if code, _, stderr := c.run(string(ssh.MarshalAuthorizedKey(pub)), "user", "key", "add", "alice", "--file", "-"); code != exitFailure || !strings.Contains(stderr, "registered already") {
		t.Fatalf("duplicate key: %d %q", code, stderr)
	}
	if code, _, stderr := c.run("not a key", "user", "key", "add", "alice", "--file", "-"); code == exitOK || !strings.Contains(stderr, "not an OpenSSH public key") {
		t.Fatalf("garbage key: %d %q", code, stderr)
	}
	if code, _, _ := c.run("", "user", "key", "add", "alice"); code != exitUsage {
		t.Fatalf("missing --file: %d", code)
	}
	if code, stdout, _ := c.run("", "user", "key", "list", "alice"); code != exitOK || !strings.Contains(stdout, ssh.FingerprintSHA256(pub)) {
		t.Fatalf("key list: %q", stdout)
	}
	// The key signs alice in; with password sign-in off, her password does not.
	code, _, stderr = c.run("", "user", "password-login", "alice", "--off")
	if code != exitOK {
		t.Fatal(stderr)
	}
	core := c.core()
	cl := auth.Client{IP: "192.0.2.1", Protocol: audit.SFTP}
	if _, err := core.Auth.PublicKey(context.Background(), "alice", pub, cl); err != nil {
		t.Fatalf("key sign-in: %v", err)
	}
	code, stdout, _ = c.run("", "user", "key", "remove", "alice", ssh.FingerprintSHA256(pub))
	if code != exitOK {
		t.Fatalf("key remove: %q", stdout)
	}
	if _, err := core.Auth.PublicKey(context.Background(), "alice", pub, cl); !errs.Is(errs.Unauthenticated, err) {
		t.Fatalf("removed key: %v", err)
	}
}
