package files_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// newSmallFixture is a fixture that keeps files of up to MaxInline bytes in their rows,
// as a server does by default.
func newSmallFixture(t *testing.T, dsn string) *fixture {
	f := newFixture(t, dsn, nil)
	f.svc.SetInlineMax(files.MaxInline)
	return f
}

// row returns the database entry of a file in p's home and the payload in its row.
func (f *fixture) row(p auth.Principal, name string) (db.Entry, []byte) {
	f.t.Helper()
	e, err := f.db.Q().LookupChild(f.ctx, f.homeID(p), 0, name)
	if err != nil {
		f.t.Fatal(err)
	}
	payload, err := f.db.Q().EntryPayload(f.ctx, e.ID, e.CryptHeader)
	if err != nil {
		f.t.Fatal(err)
	}
	return e, payload
}

func TestSmallFilesInRow(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newSmallFixture(t, dsn)
		alice := f.user("alice", 0)
		for _, c := range []struct {
			size   int
			inline bool
			sizeOK bool // announce the size (else unknown, as SFTP)
		}{
			{0, true, true}, {1, true, false}, {4096, true, false}, {files.MaxInline, true, true},
			{files.MaxInline, true, false}, {files.MaxInline + 1, false, false}, {files.MaxInline + 1, false, true},
			{3*files.MaxInline + 5, false, false},
		} {
			t.Run(fmt.Sprintf("%d-%v", c.size, c.sizeOK), func(t *testing.T) {
				data := randomBytes(c.size)
				sum := sha256.Sum256(data)
				name := fmt.Sprintf("f-%d-%v", c.size, c.sizeOK)
				size := int64(-1)
				if c.sizeOK {
					size = int64(c.size)
				}
				blobs := f.mem.Len()
				e, err := f.svc.Create(f.ctx, alice, "/"+name, bytes.NewReader(data), files.CreateOptions{Size: size})
				if err != nil {
					t.Fatal(err)
				}
				if e.Size != int64(c.size) || !bytes.Equal(e.SHA256, sum[:]) {
					t.Errorf("Create = %+v; want size %d, sha256 %x", e, c.size, sum)
				}
				row, payload := f.row(alice, name)
				if c.inline {
					if row.BlobID != "" || len(payload) != 16+c.size+16 || f.mem.Len() != blobs {
						t.Errorf("a %d-byte file: blob %q, payload of %d bytes, %d new blobs; want no blob and a payload of %d bytes",
							c.size, row.BlobID, len(payload), f.mem.Len()-blobs, 16+c.size+16)
					}
					if bytes.Contains(payload, data[:min(len(data), 64)]) && c.size >= 16 {
						t.Error("the payload in the row holds plaintext")
					}
				} else if row.BlobID == "" || payload != nil || f.mem.Len() != blobs+1 {
					t.Errorf("a %d-byte file: blob %q, payload of %d bytes; want a blob", c.size, row.BlobID, len(payload))
				}
				if got := f.get(alice, "/"+name); !bytes.Equal(got, data) {
					t.Fatalf("read back %d bytes that differ from the %d written", len(got), c.size)
				}
				r, err := f.svc.Open(f.ctx, alice, "/"+name)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				for _, rg := range []struct{ off, n int }{{0, 1}, {c.size / 2, 100}, {c.size - 3, 10}, {c.size, 1}} {
					if rg.off < 0 {
						continue
					}
					buf := make([]byte, rg.n)
					n, err := r.ReadAt(buf, int64(rg.off))
					want := data[min(rg.off, c.size):min(rg.off+rg.n, c.size)]
					if n != len(want) || !bytes.Equal(buf[:n], want) || (n < rg.n && err != io.EOF) {
						t.Errorf("ReadAt(%d bytes at %d) = %d, %v; want %d bytes", rg.n, rg.off, n, err, len(want))
					}
				}
			})
		}
		if n := len(f.records(audit.ActFileUpload)); n != 8 {
			t.Errorf("%d upload records, want 8", n)
		}
		if rep := f.verifyAudit(); !rep.OK() {
			t.Errorf("audit log: %s", rep.Problem)
		}
		if n, err := f.svc.CollectGarbage(f.ctx, 0); err != nil || n != 0 {
			t.Errorf("CollectGarbage = %d, %v; want nothing to collect", n, err)
		}
	})
}

// A small file replaced by a large one and back, renamed over and deleted: blobs come
// and go only for the large versions, and the usage follows.
func TestSmallFilesReplaceRenameDelete(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newSmallFixture(t, dsn)
		alice := f.user("alice", 0)
		home := f.homeID(alice)
		small, large := randomBytes(100), randomBytes(files.MaxInline+100)
		f.put(alice, "/a", small)
		f.clean(0)
		f.put(alice, "/a", large)
		f.clean(1)
		if got := f.get(alice, "/a"); !bytes.Equal(got, large) {
			t.Fatal("the large version does not read back")
		}
		f.put(alice, "/a", small)
		f.clean(0) // the large version's blob is deleted
		if got := f.get(alice, "/a"); !bytes.Equal(got, small) {
			t.Fatal("the small version does not read back")
		}
		if got := f.used(home); got != 100 {
			t.Errorf("used %d, want 100", got)
		}
		f.put(alice, "/b", large)
		if err := f.svc.Rename(f.ctx, alice, "/a", "/b", true); err != nil {
			t.Fatal(err)
		}
		f.clean(0) // /b's blob went with the version it replaced
		if got := f.get(alice, "/b"); !bytes.Equal(got, small) {
			t.Fatal("the renamed small file does not read back")
		}
		f.mkdir(alice, "/d")
		f.put(alice, "/d/x", small)
		f.put(alice, "/d/y", large)
		if err := f.svc.Delete(f.ctx, alice, "/d", true); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Delete(f.ctx, alice, "/b", false); err != nil {
			t.Fatal(err)
		}
		f.clean(0)
		if got := f.used(home); got != 0 {
			t.Errorf("used %d after deleting everything, want 0", got)
		}
	})
}

// Tampering with a payload in a row is detected like tampering with a blob.
func TestSmallFileIntegrity(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newSmallFixture(t, dsn)
		alice := f.user("alice", 0)
		for _, c := range []struct {
			name   string
			tamper func([]byte) []byte
		}{
			{"flipped byte in the nonce", func(p []byte) []byte { p[3] ^= 1; return p }},
			{"flipped byte in the chunk", func(p []byte) []byte { p[40] ^= 0x80; return p }},
			{"flipped tag", func(p []byte) []byte { p[len(p)-1] ^= 1; return p }},
			{"truncated", func(p []byte) []byte { return p[:len(p)-1] }},
			{"extended", func(p []byte) []byte { return append(p, 0) }},
			{"nonce only", func(p []byte) []byte { return p[:16] }},
			{"missing", func([]byte) []byte { return nil }},
		} {
			t.Run(c.name, func(t *testing.T) {
				f.put(alice, "/f", randomBytes(1000))
				e, payload := f.row(alice, "f")
				e.Payload = c.tamper(bytes.Clone(payload))
				if err := f.db.Q().ReplaceFile(f.ctx, e); err != nil {
					t.Fatal(err)
				}
				r, err := f.svc.Open(f.ctx, alice, "/f")
				if err == nil {
					_, err = io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
					r.Close()
				}
				wantKind(t, "reading a tampered payload", err, errs.Integrity)
			})
		}
		// Another file's payload moved into this row does not open under this row's header.
		f.put(alice, "/g", randomBytes(1000))
		e, _ := f.row(alice, "f")
		_, other := f.row(alice, "g")
		e.Payload = other
		if err := f.db.Q().ReplaceFile(f.ctx, e); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Open(f.ctx, alice, "/f")
		wantKind(t, "another file's payload", err, errs.Integrity)
	})
}

// A small upload that fails, is refused or is canceled leaves nothing: no entry, no blob,
// no pending row, no charge.
func TestSmallFileAllOrNothing(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newSmallFixture(t, dsn)
		alice := f.user("alice", 1000)
		home := f.homeID(alice)
		data := randomBytes(800)
		failing := &failingReader{r: bytes.NewReader(data), after: 500, err: errors.New("connection reset by peer")}
		_, err := f.svc.Create(f.ctx, alice, "/a", failing, files.CreateOptions{Size: -1})
		if err == nil {
			t.Fatal("an upload cut off succeeded")
		}
		wrong := sha256.Sum256([]byte("something else"))
		_, err = f.svc.Create(f.ctx, alice, "/a", bytes.NewReader(data), files.CreateOptions{Size: -1, SHA256: wrong[:]})
		wantKind(t, "a wrong digest", err, errs.Integrity)
		_, err = f.svc.Create(f.ctx, alice, "/a", bytes.NewReader(data), files.CreateOptions{Size: 900})
		wantKind(t, "a short body", err, errs.Integrity)
		_, err = f.svc.Create(f.ctx, alice, "/a", bytes.NewReader(randomBytes(1001)), files.CreateOptions{Size: -1})
		wantKind(t, "over quota", err, errs.Quota)
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		_, err = f.svc.Create(ctx, alice, "/a", bytes.NewReader(data), files.CreateOptions{Size: -1})
		wantKind(t, "canceled", err, errs.Canceled)
		f.absent(alice, "/a")
		f.clean(0)
		if got := f.used(home); got != 0 {
			t.Errorf("used %d after failed uploads, want 0", got)
		}
		if pend, err := f.db.Q().PendingBefore(f.ctx, time.Now().Add(time.Hour), 10); err != nil || len(pend) != 0 {
			t.Errorf("pending blobs %v, %v; want none", pend, err)
		}
		f.put(alice, "/a", data)
		if got := f.used(home); got != 800 {
			t.Errorf("used %d, want 800", got)
		}
		// Replacing charges the difference, for a file in a row as for a blob.
		_, err = f.svc.Create(f.ctx, alice, "/a", bytes.NewReader(randomBytes(1001)), files.CreateOptions{Size: -1})
		wantKind(t, "replacing over quota", err, errs.Quota)
		f.put(alice, "/a", randomBytes(1000))
		if got := f.used(home); got != 1000 {
			t.Errorf("used %d, want 1000", got)
		}
		f.clean(0)
	})
}

// A small upload cut off is kept as a partial upload like any other, and resumes.
func TestSmallFileCutKeptAndResumed(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newSmallFixture(t, dsn)
		alice := f.user("alice", 0)
		data := randomBytes(3000)
		err := f.cut(alice, "/a", data, 1000, files.CreateOptions{Size: -1})
		wantKind(t, "cut upload", err, errs.Canceled)
		part, err := f.svc.PartialAt(f.ctx, alice, "/a")
		if err != nil || part.Size != 1000 {
			t.Fatalf("PartialAt = %+v, %v; want 1000 bytes kept", part, err)
		}
		f.clean(1) // the partial upload's blob (its nonce; the bytes are in its tail)
		if _, err := f.svc.Create(f.ctx, alice, "/a", bytes.NewReader(data[1000:]), files.CreateOptions{Size: -1, Resume: true, Offset: 1000}); err != nil {
			t.Fatal(err)
		}
		if got := f.get(alice, "/a"); !bytes.Equal(got, data) {
			t.Fatal("the resumed file differs")
		}
		f.clean(1) // a resumed upload is a blob
	})
}
