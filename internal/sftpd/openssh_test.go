package sftpd_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/sftpd"
)

// TestOpenSSHClients drives the real OpenSSH programs (sftp, scp, ssh) with a public key.
func TestOpenSSHClients(t *testing.T) {
	t.Parallel()
	for _, prog := range []string{"sftp", "scp", "ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("OpenSSH %s is not installed (apt-get install openssh-client): %v", prog, err)
		}
	}
	e := start(t, sftpd.Config{})
	e.User(t, "kate", 0)
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pubText, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.Core.Accounts.AddKey(ctx, accounts.LocalAdmin("test"), "kate", string(ssh.MarshalAuthorizedKey(pub))); err != nil {
		t.Fatal(err)
	}
	opts := []string{"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentityFile=" + key,
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-F", "/dev/null"}
	run := func(name string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	local := filepath.Join(dir, "local file ✓ é.txt")
	content := bytes.Repeat([]byte("coffer sftp\n"), 50000)
	if err := os.WriteFile(local, content, 0o600); err != nil {
		t.Fatal(err)
	}
	batch := filepath.Join(dir, "batch")
	script := strings.Join([]string{
		`mkdir "dossier été"`,
		`put "local file ✓ é.txt" "dossier été/Übersicht 2026.txt"`,
		`ls -l "dossier été"`,
		`rename "dossier été/Übersicht 2026.txt" "dossier été/final ✓.txt"`,
		`get "dossier été/final ✓.txt" "back.txt"`,
		`df -h`,
		`rm "dossier été/final ✓.txt"`,
		`rmdir "dossier été"`,
		`ls -la`,
	}, "\n") + "\n"
	if err := os.WriteFile(batch, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-b", batch, "-P", e.port}, opts...)
	out, err := run("sftp", append(args, "kate@127.0.0.1")...)
	if err != nil {
		t.Fatalf("sftp batch: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Übersicht 2026.txt") {
		t.Errorf("ls did not show the uploaded file:\n%s", out)
	}
	if back, err := os.ReadFile(filepath.Join(dir, "back.txt")); err != nil || !bytes.Equal(back, content) {
		t.Fatalf("sftp get returned %d bytes, %v", len(back), err)
	}

	// scp in its default SFTP mode (OpenSSH 9+).
	scpArgs := append([]string{"-P", e.port}, opts...)
	if out, err := run("scp", append(scpArgs, local, "kate@127.0.0.1:/scp copy.txt")...); err != nil {
		t.Fatalf("scp upload: %v\n%s", err, out)
	}
	if out, err := run("scp", append(scpArgs, "kate@127.0.0.1:/scp copy.txt", filepath.Join(dir, "scp back.txt"))...); err != nil {
		t.Fatalf("scp download: %v\n%s", err, out)
	}
	if back, err := os.ReadFile(filepath.Join(dir, "scp back.txt")); err != nil || !bytes.Equal(back, content) {
		t.Fatalf("scp round trip returned %d bytes, %v", len(back), err)
	}

	// reget resumes an interrupted download from where the local copy ends.
	partial := filepath.Join(dir, "partial.txt")
	if err := os.WriteFile(partial, content[:200_000], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(batch, []byte(`reget "scp copy.txt" "partial.txt"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run("sftp", append(args, "kate@127.0.0.1")...); err != nil {
		t.Fatalf("sftp reget: %v\n%s", err, out)
	}
	if back, err := os.ReadFile(partial); err != nil || !bytes.Equal(back, content) {
		t.Fatalf("reget left %d bytes (want %d), %v", len(back), len(content), err)
	}

	// Legacy scp (a remote command) and a shell are refused with a clear message.
	out, err = run("scp", append(append([]string{"-O"}, scpArgs...), local, "kate@127.0.0.1:/legacy.txt")...)
	if err == nil || !strings.Contains(out, "SFTP only") {
		t.Errorf("scp -O: %v\n%s", err, out)
	}
	out, err = run("ssh", append(append([]string{"-p", e.port, "-T"}, opts...), "kate@127.0.0.1", "cat /etc/passwd")...)
	if err == nil || !strings.Contains(out, "SFTP only") || strings.Contains(out, "root:") {
		t.Errorf("ssh command: %v\n%s", err, out)
	}
	out, err = run("ssh", append(append([]string{"-p", e.port}, opts...), "kate@127.0.0.1")...)
	if err == nil || !strings.Contains(out, "SFTP only") {
		t.Errorf("ssh shell: %v\n%s", err, out)
	}
}
