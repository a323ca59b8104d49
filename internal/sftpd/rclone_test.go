package sftpd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/sftpd"
)

// rclone's sftp backend, as partners' sync jobs use it: copy a tree up, list, copy it
// back, delete, with a key, against the real server.
func TestRclone(t *testing.T) {
	_, err := exec.LookPath("rclone")
	needClient(t, err == nil, "rclone")
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "sync", 0)
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	if _, err := e.Core.Accounts.AddKey(context.Background(), accounts.LocalAdmin("test"), "sync", string(pub)); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	files := map[string][]byte{"a.csv": []byte("1,2\n"), "deep/er/results 2026 ü.bin": make([]byte, 3<<20), "empty.txt": nil}
	rand.Read(files["deep/er/results 2026 ü.bin"])
	for name, data := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o700)
		os.WriteFile(filepath.Join(src, name), data, 0o600)
	}
	rclone := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("rclone", append(args, "--config", "/dev/null", "--sftp-disable-hashcheck", "-q")...)
		cmd.Env = append(os.Environ(), "RCLONE_CONFIG_C_TYPE=sftp", "RCLONE_CONFIG_C_HOST=127.0.0.1",
			"RCLONE_CONFIG_C_PORT="+e.port, "RCLONE_CONFIG_C_USER=sync", "RCLONE_CONFIG_C_KEY_FILE="+key)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("rclone %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	rclone("copy", src, "c:drop")
	listing := rclone("lsf", "-R", "c:drop")
	for name := range files {
		if !strings.Contains(listing, name) {
			t.Errorf("rclone lsf lacks %q:\n%s", name, listing)
		}
	}
	back := filepath.Join(dir, "back")
	rclone("copy", "c:drop", back)
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(back, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s came back different (%d bytes, %v)", name, len(got), err)
		}
	}
	// The same bytes are what the files layer (and so the REST API) serves.
	r, err := e.Core.Files.Open(context.Background(), e.principal(t, "sync"), "/drop/deep/er/results 2026 ü.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	r.Close()
	if !bytes.Equal(got, files["deep/er/results 2026 ü.bin"]) {
		t.Fatal("the files layer serves other bytes than rclone uploaded")
	}
	rclone("delete", "c:drop/a.csv")
	if strings.Contains(rclone("lsf", "c:drop"), "a.csv") {
		t.Fatal("rclone delete left the file")
	}
}
