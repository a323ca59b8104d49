package files_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

func TestOwnedFolder(t *testing.T) {
	f := newFixture(t, dbtest.SQLiteDSN(t), nil)
	folder, err := f.db.Q().InsertParcelFolder(f.ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("parcel content")
	sum := sha256.Sum256(content)
	published := 0
	e, err := f.svc.PutOwned(f.ctx, folder, "f1", bytes.NewReader(content), files.OwnedPut{Size: int64(len(content)), SHA256: sum[:],
		Publish: func(q db.Q, e files.Entry) error { published++; return nil }})
	if err != nil || e.Size != int64(len(content)) || published != 1 {
		t.Fatalf("PutOwned = %+v, %v (published %d)", e, err, published)
	}
	if _, err := f.svc.PutOwned(f.ctx, folder, "f1", strings.NewReader("x"), files.OwnedPut{Size: 1}); !errs.Is(errs.Exist, err) {
		t.Fatalf("a second file of the same name: %v, want Exist", err)
	}
	if _, err := f.svc.PutOwned(f.ctx, folder, "../x", strings.NewReader("x"), files.OwnedPut{Size: 1}); !errs.Is(errs.Invalid, err) {
		t.Fatalf("a path for a name: %v, want Invalid", err)
	}
	if _, err := f.svc.PutOwned(f.ctx, folder, "big", bytes.NewReader(make([]byte, 101)), files.OwnedPut{Size: -1}); !errs.Is(errs.Quota, err) {
		t.Fatalf("past the folder's quota: %v, want Quota", err)
	}
	// A Publish that fails leaves nothing: no entry, no charged bytes, no blob.
	blobsBefore := f.mem.Len()
	boom := errors.New("boom")
	if _, err := f.svc.PutOwned(f.ctx, folder, "f2", strings.NewReader("y"), files.OwnedPut{Size: 1,
		Publish: func(db.Q, files.Entry) error { return boom }}); !errors.Is(err, boom) {
		t.Fatalf("failing Publish: %v", err)
	}
	if f.mem.Len() != blobsBefore {
		t.Fatalf("a failed publish left a blob: %d blobs, want %d", f.mem.Len(), blobsBefore)
	}
	var got int64 = -1
	r, err := f.svc.OpenOwned(f.ctx, folder, "f1", func(n int64, failure error) { got = n })
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	r.Close()
	if err != nil || !bytes.Equal(b, content) || got != int64(len(content)) {
		t.Fatalf("read %q, %v; done saw %d bytes", b, err, got)
	}
	if _, err := f.svc.OpenOwned(f.ctx, folder, "f2", nil); !errs.Is(errs.NotFound, err) {
		t.Fatalf("OpenOwned of a missing file: %v", err)
	}
	if err := f.svc.EmptyOwned(f.ctx, folder, func(db.Q) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.OpenOwned(f.ctx, folder, "f1", nil); !errs.Is(errs.NotFound, err) {
		t.Fatalf("OpenOwned after EmptyOwned: %v", err)
	}
	if fo, err := f.db.Q().FolderByID(f.ctx, folder); err != nil || fo.UsedBytes != 0 {
		t.Fatalf("folder after EmptyOwned: %+v, %v", fo, err)
	}
	if f.mem.Len() != 0 {
		t.Fatalf("%d blobs left after EmptyOwned", f.mem.Len())
	}
}
