package sftpd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/sftpd"
)

const chunk = 64 << 10

// cutUpload uploads data[:n] to path as user and kills the connection without closing
// the file, as a client that crashed or lost its network does; it returns once the server
// kept the partial upload.
func cutUpload(t *testing.T, e *env, user, path string, data []byte, n int) files.Partial {
	t.Helper()
	c, nc := e.login(t, user)
	f, err := c.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data[:n]); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	return waitPartial(t, e, user, path)
}

// waitPartial waits until the server has kept user's partial upload at path and no
// transfer appends to it any longer.
func waitPartial(t *testing.T, e *env, user, path string) files.Partial {
	t.Helper()
	p := e.principal(t, user)
	// The server notices the dead connection, ends the upload and keeps what it sealed.
	deadline := time.Now().Add(20 * time.Second)
	for {
		part, err := e.Core.Files.PartialAt(context.Background(), p, path)
		if err == nil && !part.Busy {
			return part
		}
		if err != nil && !errs.Is(errs.NotFound, err) || time.Now().After(deadline) {
			t.Fatalf("no partial upload after a killed upload: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func randomData(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestKilledUploadResumes: a killed upload is not visible, its owner alone sees how much
// was kept, and continuing it from there gives the whole file.
func TestKilledUploadResumes(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "ivan", 0)
	e.User(t, "mallory", 0)
	data := randomData(t, 20*chunk+321)
	part := cutUpload(t, e, "ivan", "/results.bin", data, 10*chunk+100)
	if part.Size != 10*chunk+100 {
		t.Fatalf("kept %d bytes, want all %d received", part.Size, 10*chunk+100)
	}
	ivan := e.principal(t, "ivan")
	if _, err := e.Core.Files.Stat(context.Background(), ivan, "/results.bin"); !errs.Is(errs.NotFound, err) {
		t.Fatalf("a killed upload is visible as a file: %v", err)
	}

	// Over SFTP, stat shows ivan the size to resume from; not mallory; nobody can read it.
	c, _ := e.login(t, "ivan")
	fi, err := c.Stat("/results.bin")
	if err != nil || fi.Size() != 10*chunk+100 {
		t.Fatalf("stat of the partial upload: %v, %v", fi, err)
	}
	if _, err := c.Open("/results.bin"); err == nil {
		t.Error("a partial upload can be opened for reading")
	}
	if entries, err := c.ReadDir("/"); err != nil || len(entries) != 0 {
		t.Errorf("the partial upload is listed: %v, %v", entries, err)
	}
	m, _ := e.login(t, "mallory")
	if _, err := m.Stat("/results.bin"); err == nil || !os.IsNotExist(err) {
		t.Errorf("mallory stats ivan's partial upload: %v", err)
	}

	// Resuming at the wrong offset fails with a message that says where to resume.
	f, err := c.OpenFile("/results.bin", os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(data[:100], 0)
	if err == nil || !strings.Contains(err.Error(), "resume from byte 655460") {
		t.Fatalf("write at 0 into a resumed upload: %v", err)
	}
	f.Close()
	// That failed attempt kept the partial upload (it had nothing new to add).
	if fi, err := c.Stat("/results.bin"); err != nil || fi.Size() != 10*chunk+100 {
		t.Fatalf("after a failed resume: %v, %v", fi, err)
	}

	// Resume properly, in two more sittings; the first is killed too.
	c2, nc2 := e.login(t, "ivan")
	f, err = c2.OpenFile("/results.bin", os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data[10*chunk+100:15*chunk+7], 10*chunk+100); err != nil {
		t.Fatal(err)
	}
	nc2.Close()
	part = waitPartial(t, e, "ivan", "/results.bin")
	if part.Size != 15*chunk+7 {
		t.Fatalf("second cut kept %d bytes, want %d", part.Size, 15*chunk+7)
	}
	c, _ = e.login(t, "ivan")
	f, err = c.OpenFile("/results.bin", os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data[15*chunk+7:], 15*chunk+7); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("completing the resumed upload: %v", err)
	}
	r, err := c.Open("/results.bin")
	if err != nil {
		t.Fatal(err)
	}
	var back bytes.Buffer
	if _, err := r.WriteTo(&back); err != nil || !bytes.Equal(back.Bytes(), data) {
		t.Fatalf("the resumed file reads back %d bytes (want %d), %v", back.Len(), len(data), err)
	}
	e2, err := e.Core.Files.Stat(context.Background(), ivan, "/results.bin")
	if err != nil || e2.Size != int64(len(data)) {
		t.Fatalf("stat after completion: %+v, %v", e2, err)
	}

	// rm of an interrupted upload's name drops it.
	cutUpload(t, e, "ivan", "/dropme.bin", data, 3*chunk)
	c, _ = e.login(t, "ivan")
	if err := c.Remove("/dropme.bin"); err != nil {
		t.Fatalf("rm of a partial upload: %v", err)
	}
	if _, err := c.Stat("/dropme.bin"); !os.IsNotExist(err) {
		t.Errorf("the partial upload survived rm: %v", err)
	}
	// Appending to a complete file is refused: there is nothing to resume.
	if _, err := c.OpenFile("/results.bin", os.O_WRONLY|os.O_APPEND); err == nil || !strings.Contains(err.Error(), "upload the whole file") {
		t.Errorf("append to a complete file: %v", err)
	}
}

// TestOpenSSHReput continues an interrupted upload with OpenSSH's reput.
func TestOpenSSHReput(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "lena", 0)
	o := newOpenSSH(t, e, "lena")
	data := randomData(t, 3<<20+12345)
	if err := os.WriteFile(filepath.Join(o.dir, "big.bin"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	part := cutUpload(t, e, "lena", "/big.bin", data, 1<<20+5000)
	if part.Size != 1<<20+5000 {
		t.Fatalf("kept %d bytes", part.Size)
	}
	if out, err := o.batch(`reput big.bin /big.bin`); err != nil {
		t.Fatalf("sftp reput: %v\n%s", err, out)
	}
	if out, err := o.batch(`get /big.bin back.bin`); err != nil {
		t.Fatalf("sftp get: %v\n%s", err, out)
	}
	if back, err := os.ReadFile(filepath.Join(o.dir, "back.bin")); err != nil || !bytes.Equal(back, data) {
		t.Fatalf("reput then get gave %d bytes (want %d), %v", len(back), len(data), err)
	}
	recs, err := e.Core.DB.Q().AuditQuery(context.Background(), db.AuditFilter{Actor: "lena", Action: audit.ActFileUpload}, 1)
	if err != nil || len(recs) != 1 || recs[0].Result != audit.OK || !strings.Contains(recs[0].Detail, "resumed at byte 1053576") {
		t.Errorf("the completion is audited as %+v, %v", recs, err)
	}
}
