package sftpd_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/sftpd"
	"github.com/coffer-mft/coffer/internal/testenv"
)

func put(t *testing.T, c *sftp.Client, path string, data []byte) error {
	t.Helper()
	f, err := c.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func get(t *testing.T, c *sftp.Client, path string) ([]byte, error) {
	t.Helper()
	f, err := c.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	_, err = f.WriteTo(&buf)
	return buf.Bytes(), err
}

func code(err error) uint32 {
	var se *sftp.StatusError
	switch {
	case errors.As(err, &se):
		return se.Code
	case errors.Is(err, os.ErrNotExist): // the client turns these two codes into os errors
		return fxNoSuchFile
	case errors.Is(err, os.ErrPermission):
		return fxPermission
	}
	return 0
}

const (
	fxOK          = 0
	fxNoSuchFile  = 2
	fxPermission  = 3
	fxFailure     = 4
	fxBadMessage  = 5
	fxUnsupported = 8
	fxEOF         = 1
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	tok := e.User(t, "alice", 0)
	c, _ := e.login(t, "alice")
	for _, size := range []int{0, 1, 5 << 20} {
		data := make([]byte, size)
		rand.Read(data)
		name := fmt.Sprintf("/f%d.bin", size)
		if err := put(t, c, name, data); err != nil {
			t.Fatalf("put %d bytes: %v", size, err)
		}
		got, err := get(t, c, name)
		if err != nil {
			t.Fatalf("get %d bytes: %v", size, err)
		}
		if sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("%d bytes: got %d bytes with another digest", size, len(got))
		}
		// The same file over the REST API (HTTPS), and the other way round.
		resp, rest := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files" + name, Token: tok})
		if resp.StatusCode != http.StatusOK || !bytes.Equal(rest, data) {
			t.Fatalf("REST GET of an SFTP upload: %d, %d bytes", resp.StatusCode, len(rest))
		}
		other := fmt.Sprintf("/rest%d.bin", size)
		resp, body := e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/files" + other, Token: tok, Body: bytes.NewReader(data)})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("REST PUT: %d %s", resp.StatusCode, body)
		}
		got, err = get(t, c, other)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("SFTP get of a REST upload: %d bytes, %v", len(got), err)
		}
		fi, err := c.Stat(name)
		if err != nil || fi.Size() != int64(size) || fi.IsDir() || fi.Mode().Perm() != 0o644 {
			t.Fatalf("stat: %v %v", fi, err)
		}
	}
	// Sequential small reads and a read at an arbitrary offset.
	f, err := c.Open("/f5242880.bin")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := f.ReadAt(buf, 3<<20+7); err != nil {
		t.Fatal(err)
	}
	f.Close()
	full, _ := get(t, c, "/f5242880.bin")
	if !bytes.Equal(buf, full[3<<20+7:3<<20+1007]) {
		t.Fatal("ReadAt at an offset returned other bytes")
	}
}

func TestWrongPasswordLocksOut(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "bob", 0)
	for i := range 5 {
		if _, _, err := e.sshDial(t, "bob", ssh.Password("wrong")); err == nil {
			t.Fatalf("attempt %d: wrong password accepted", i)
		}
	}
	if _, _, err := e.sshDial(t, "bob", ssh.Password("password-of-bob")); err == nil {
		t.Fatal("right password accepted for a locked-out account")
	}
	// The lockout stops the guessing of the password: bob's key still works.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Core.Accounts.AddKey(context.Background(), accounts.LocalAdmin("test"), "bob", string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); err != nil {
		t.Fatal(err)
	}
	sc, _, err := e.sshDial(t, "bob", ssh.PublicKeys(signer))
	if err != nil {
		t.Fatalf("key of a locked-out account: %v", err)
	}
	sc.Close()
	// Unknown users fail the same way.
	if _, _, err := e.sshDial(t, "nobody", ssh.Password("x")); err == nil {
		t.Fatal("unknown user accepted")
	}
}

func TestListPaginates(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "carol", 0)
	ctx := context.Background()
	p := e.principal(t, "carol")
	if _, err := e.Core.Files.Mkdir(ctx, p, "/many", false); err != nil {
		t.Fatal(err)
	}
	const n = 2500
	for i := range n {
		if _, err := e.Core.Files.Mkdir(ctx, p, fmt.Sprintf("/many/d%05d", i), false); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := e.login(t, "carol")
	list, err := c.ReadDir("/many")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("listed %d entries, want %d", len(list), n)
	}
	for i, fi := range list {
		if want := fmt.Sprintf("d%05d", i); fi.Name() != want || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
			t.Fatalf("entry %d: %s %v, want directory %s", i, fi.Name(), fi.Mode(), want)
		}
	}
}

func TestOperations(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "dave", 1<<20)
	c, _ := e.login(t, "dave")

	if err := c.Mkdir("/dir"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir("/dir"); code(err) != fxFailure || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("mkdir of an existing directory: %v", err)
	}
	if err := put(t, c, "/dir/a.txt", []byte("alpha")); err != nil {
		t.Fatal(err)
	}
	if err := put(t, c, "/dir/b.txt", []byte("beta")); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveDirectory("/dir"); err == nil {
		t.Fatal("rmdir of a non-empty directory succeeded")
	}
	if err := c.Rename("/dir/a.txt", "/dir/b.txt"); err == nil {
		t.Fatal("plain rename replaced an existing file")
	}
	if err := c.Rename("/dir/a.txt", "/dir/c.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.PosixRename("/dir/c.txt", "/dir/b.txt"); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, c, "/dir/b.txt"); string(got) != "alpha" {
		t.Fatalf("after posix-rename: %q", got)
	}
	mtime := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := c.Chtimes("/dir/b.txt", mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if fi, err := c.Stat("/dir/b.txt"); err != nil || !fi.ModTime().Equal(mtime) {
		t.Fatalf("mtime after Chtimes: %v %v", fi.ModTime(), err)
	}
	if err := c.Chmod("/dir/b.txt", 0o600); err != nil {
		t.Fatalf("chmod should be ignored quietly: %v", err)
	}
	if err := c.Truncate("/dir/b.txt", 2); code(err) != fxUnsupported {
		t.Fatalf("truncate: %v", err)
	}
	if err := c.Symlink("/dir/b.txt", "/link"); code(err) != fxPermission {
		t.Fatalf("symlink: %v", err)
	}
	if err := c.Link("/dir/b.txt", "/hard"); code(err) != fxPermission {
		t.Fatalf("hardlink: %v", err)
	}
	if _, err := c.ReadLink("/dir/b.txt"); code(err) != fxFailure {
		t.Fatalf("readlink: %v", err)
	}
	if _, err := c.Stat("/nope"); code(err) != fxNoSuchFile {
		t.Fatalf("stat of a missing file: %v", err)
	}
	if rp, err := c.RealPath("x/../y"); err != nil || rp != "/y" {
		t.Fatalf("realpath: %q %v", rp, err)
	}
	if vfs, err := c.StatVFS("/"); err != nil || vfs.TotalSpace() != 1<<20 || vfs.FreeSpace() >= 1<<20 {
		t.Fatalf("statvfs: %+v %v", vfs, err)
	}
	if err := c.Remove("/dir"); code(err) != fxFailure {
		t.Fatalf("rm of a directory: %v", err)
	}
	if err := c.Remove("/dir/b.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveDirectory("/dir"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat("/dir"); code(err) != fxNoSuchFile {
		t.Fatalf("stat after rmdir: %v", err)
	}
	// Appending (resume) is refused.
	if _, err := c.OpenFile("/x", os.O_WRONLY|os.O_APPEND|os.O_CREATE); code(err) != fxUnsupported {
		t.Fatalf("append: %v", err)
	}
	// A write far beyond the stream, and one before it, are refused.
	f, err := c.OpenFile("/sparse", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 100<<20); code(err) != fxUnsupported {
		t.Fatalf("write far ahead: %v", err)
	}
	f.Close()
	if _, err := c.Stat("/sparse"); code(err) != fxNoSuchFile {
		t.Fatalf("a refused upload became visible: %v", err)
	}
}

func TestPathsStayInTheUsersTree(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "erin", 0)
	c, _ := e.login(t, "erin")
	for _, p := range []string{"../../etc/passwd", "/../etc/passwd", "/etc/passwd", "../../../../../etc/shadow"} {
		if _, err := get(t, c, p); code(err) != fxNoSuchFile {
			t.Errorf("get %q: %v (want no such file: the host file system is never reached)", p, err)
		}
	}
	if err := put(t, c, "/../../escape.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// It landed at the root of erin's own tree.
	if _, err := e.Core.Files.Stat(context.Background(), e.principal(t, "erin"), "/escape.txt"); err != nil {
		t.Fatalf("upload to /../../escape.txt: %v", err)
	}
	if err := put(t, c, "/bad\\name", []byte("x")); err == nil {
		t.Error("a name with a backslash was accepted")
	}
}

func TestQuotaExceeded(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "frank", 100<<10)
	c, _ := e.login(t, "frank")
	data := make([]byte, 300<<10)
	err := put(t, c, "/big.bin", data)
	if code(err) != fxFailure || !strings.Contains(err.Error(), "quota") {
		t.Fatalf("upload over quota: %v", err)
	}
	if _, err := c.Stat("/big.bin"); code(err) != fxNoSuchFile {
		t.Fatalf("a refused upload is visible: %v", err)
	}
	if err := put(t, c, "/small.bin", data[:10<<10]); err != nil {
		t.Fatalf("upload within quota after a refused one: %v", err)
	}
}

func TestUsersAreIsolated(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "gina", 0)
	e.User(t, "hank", 0)
	g, _ := e.login(t, "gina")
	h, _ := e.login(t, "hank")
	if err := put(t, g, "/secret.txt", []byte("gina's")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Stat("/secret.txt"); code(err) != fxNoSuchFile {
		t.Fatalf("hank sees gina's file: %v", err)
	}
	list, err := h.ReadDir("/")
	if err != nil || len(list) != 0 {
		t.Fatalf("hank's root: %v %v", list, err)
	}
}

func TestSessionLimits(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{MaxSessionsPerUser: 1})
	e.User(t, "judy", 0)
	e.login(t, "judy")
	sc, _, err := e.sshDial(t, "judy", ssh.Password("password-of-judy"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := sftp.NewClient(sc); err == nil || !strings.Contains(err.Error(), "maximum") {
		t.Fatalf("second session over the per-user limit: %v", err)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{HandshakeTimeout: 300 * time.Millisecond})
	nc, err := (&net.Dialer{}).Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("a silent client was not disconnected: %v", err)
	}
}

func TestHostKeysPersist(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, created, err := sftpd.LoadOrCreateHostKeys(dir)
	if err != nil || !created || len(a) != 2 {
		t.Fatal(err, created, len(a))
	}
	b, created, err := sftpd.LoadOrCreateHostKeys(dir)
	if err != nil || created {
		t.Fatal(err, created)
	}
	fa, fb := sftpd.Fingerprints(a), sftpd.Fingerprints(b)
	if strings.Join(fa, ",") != strings.Join(fb, ",") || !strings.HasPrefix(fa[0], "ED25519 SHA256:") || !strings.HasPrefix(fa[1], "RSA SHA256:") {
		t.Fatalf("fingerprints %v then %v", fa, fb)
	}
	for _, name := range []string{"host_ed25519_key", "host_rsa_key"} {
		fi, err := os.Stat(dir + "/" + name)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, fi, err)
		}
	}
}
