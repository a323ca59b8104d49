package files_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// endless yields zeros forever and counts what was read.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	clear(p)
	e.n += int64(len(p))
	return len(p), nil
}

// A body of unknown length over the quota is cut off near the quota, not read to its end.
func TestQuotaCutsOffUnknownLength(t *testing.T) {
	f := newFixture(t, dbtest.SQLiteDSN(t), nil)
	alice := f.user("alice", 1<<20)
	body := &endless{}
	_, err := f.svc.Create(f.ctx, alice, "/big.bin", body, files.CreateOptions{Size: -1})
	wantKind(t, "endless body over quota", err, errs.Quota)
	if body.n > 2<<20 {
		t.Fatalf("read %d bytes of an endless body against a 1 MiB quota", body.n)
	}
	f.absent(alice, "/big.bin")
	f.clean(0)
}

// gcAtEOF runs garbage collection, as a concurrent node might with a too-short staleness,
// at the moment the body ends: the upload's pending record is taken from under it.
type gcAtEOF struct {
	f    *fixture
	left int
}

func (g *gcAtEOF) Read(p []byte) (int, error) {
	if g.left == 0 {
		if _, err := g.f.svc.CollectGarbage(g.f.ctx, -time.Hour); err != nil {
			g.f.t.Error(err)
		}
		return 0, io.EOF
	}
	n := min(len(p), g.left)
	clear(p[:n])
	g.left -= n
	return n, nil
}

// An upload whose pending record garbage collection took is not published: the blob it
// wrote could already be deleted.
func TestUploadTakenByGarbageCollection(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		_, err := f.svc.Create(f.ctx, alice, "/raced.bin", &gcAtEOF{f: f, left: 100_000}, files.CreateOptions{Size: -1})
		if err == nil {
			t.Fatal("an upload whose pending record was collected was published")
		}
		f.absent(alice, "/raced.bin")
		f.clean(0)
	})
}

// Uploads under way at once into one folder share its room: while one holds 700 KiB of a
// 1 MiB quota, another cannot store 700 KiB more (each alone would fit), whether its
// length is announced or not; once the first is published, what it held counts as used,
// and the room left is for the rest.
func TestQuotaSharedByUploadsUnderWay(t *testing.T) {
	f := newFixture(t, dbtest.SQLiteDSN(t), nil)
	alice := f.user("alice", 1<<20)
	f.put(alice, "/empty.txt", nil) // the first upload of all takes nothing
	data := randomBytes(700 << 10)

	pr, pw := io.Pipe()
	first := make(chan error, 1)
	go func() {
		_, err := f.svc.Create(f.ctx, alice, "/first.bin", pr, files.CreateOptions{Size: -1})
		first <- err
	}()
	// Write returns once the upload has read every byte: they are under way.
	if _, err := pw.Write(data); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Create(f.ctx, alice, "/second.bin", bytes.NewReader(data), files.CreateOptions{Size: -1})
	wantKind(t, "a second upload of unknown length beside the first", err, errs.Quota)
	_, err = f.svc.Create(f.ctx, alice, "/third.bin", bytes.NewReader(data), files.CreateOptions{Size: int64(len(data))})
	wantKind(t, "a second upload of announced length beside the first", err, errs.Quota)
	pw.Close()
	if err := <-first; err != nil {
		t.Fatalf("the first upload: %v", err)
	}
	f.put(alice, "/rest.bin", data[:(1<<20)-len(data)])
	_, err = f.svc.Create(f.ctx, alice, "/one-more.bin", bytes.NewReader([]byte("x")), files.CreateOptions{Size: -1})
	wantKind(t, "one byte past the quota", err, errs.Quota)
	f.absent(alice, "/second.bin")
	f.absent(alice, "/third.bin")
	f.clean(3)
}
