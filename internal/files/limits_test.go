package files_test

import (
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
