package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/coffer-mft/coffer/internal/sftpd"
)

// coffer sftp hostkeys prints the fingerprints the banner shows and known_hosts lines
// that OpenSSH's format accepts; it creates no key.
func TestSFTPHostKeys(t *testing.T) {
	c := newCLI(t, "")
	dir := filepath.Join(c.dir, "ssh")
	code, _, stderr := c.run("", "sftp", "hostkeys")
	if code != exitFailure || !strings.Contains(stderr, "no host key") || !strings.Contains(stderr, "coffer serve") {
		t.Fatalf("before the first start: %d %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "host_ed25519_key")); err == nil {
		t.Fatal("sftp hostkeys created a host key")
	}
	signers, _, err := sftpd.LoadOrCreateHostKeys(dir) // what the first 'coffer serve' does
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := c.run("", "sftp", "hostkeys", "--host", "sftp.example.org")
	if code != exitOK {
		t.Fatalf("sftp hostkeys: %d %q", code, stderr)
	}
	for _, fp := range sftpd.Fingerprints(signers) {
		if !strings.Contains(stdout, fp) {
			t.Fatalf("no %q in\n%s", fp, stdout)
		}
	}
	var lines []string
	for l := range strings.Lines(stdout) {
		if strings.HasPrefix(l, "[sftp.example.org]:2022 ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d known_hosts lines in\n%s", len(lines), stdout)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(strings.Join(lines, "")), 0o600)
	check, err := knownhosts.New(kh)
	if err != nil {
		t.Fatal(err)
	}
	addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 2022}
	for _, s := range signers {
		if err := check("sftp.example.org:2022", addr, s.PublicKey()); err != nil {
			t.Fatalf("the known_hosts lines do not accept the host key %s: %v", s.PublicKey().Type(), err)
		}
	}

	// Keys kept elsewhere (--sftp-host-keys, as serve takes it), and port 22 needs no
	// brackets in known_hosts.
	other := filepath.Join(t.TempDir(), "keys")
	moved, _, err := sftpd.LoadOrCreateHostKeys(other)
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = c.run("", "sftp", "hostkeys", "--sftp-host-keys", other, "--host", "files.example.org", "--port", "22")
	if code != exitOK || !strings.Contains(stdout, sftpd.Fingerprints(moved)[0]) || !strings.Contains(stdout, "\nfiles.example.org ssh-ed25519 ") {
		t.Fatalf("sftp hostkeys --sftp-host-keys: %d %q\n%s", code, stderr, stdout)
	}
}
