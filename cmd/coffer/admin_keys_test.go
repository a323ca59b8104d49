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
	// What an administrator sees when a partner cannot sign in: how the account signs
	// in, its keys, and its lockout, which refuses passwords but not the key.
	for range 5 {
		core.Auth.Password(context.Background(), "alice", "wrong", auth.Client{IP: "203.0.113.9", Protocol: audit.SFTP})
	}
	if _, err := core.Auth.PublicKey(context.Background(), "alice", pub, cl); err != nil {
		t.Fatalf("key sign-in while the account is locked out: %v", err)
	}
	code, stdout, stderr = c.run("", "user", "show", "alice")
	words := strings.Join(strings.Fields(stdout), " ") // the columns' padding aside
	for _, want := range []string{"password sign-in: off: SSH keys (and API tokens) only", "SSH keys: 1: " + ssh.FingerprintSHA256(pub),
		"locked out: until ", "passwords are refused, SSH keys and API tokens still work (coffer unlock --user alice)"} {
		if code != exitOK || !strings.Contains(words, want) {
			t.Fatalf("user show: %d, no %q in\n%s%s", code, want, stdout, stderr)
		}
	}
	if code, _, stderr := c.run("", "unlock", "--user", "alice"); code != exitOK {
		t.Fatal(stderr)
	}
	if _, stdout, _ := c.run("", "user", "show", "alice"); !strings.Contains(strings.Join(strings.Fields(stdout), " "), "locked out: no") {
		t.Fatalf("user show after unlock:\n%s", stdout)
	}
	code, stdout, _ = c.run("", "user", "key", "remove", "alice", ssh.FingerprintSHA256(pub))
	if code != exitOK {
		t.Fatalf("key remove: %q", stdout)
	}
	if _, err := core.Auth.PublicKey(context.Background(), "alice", pub, cl); !errs.Is(errs.Unauthenticated, err) {
		t.Fatalf("removed key: %v", err)
	}
}
