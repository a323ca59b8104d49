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

// A parcel's resumable upload in pieces (the parcel tus endpoints) keeps them as segments
// too: completing publishes the whole file and leaves no piece behind, discarding one
// removes every segment, and emptying the folder takes an unfinished one's segments.
func TestOwnedUploadInPieces(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		folder, err := f.db.Q().InsertParcelFolder(f.ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		data := randomBytes(6*chunk + 99)
		sum := sha256.Sum256(data)
		piece := int64(chunk + 1000)
		send := func(name string, upto int64) (files.Partial, *files.Entry) {
			t.Helper()
			part, err := f.svc.StartOwned(f.ctx, folder, name, files.StartOptions{Length: int64(len(data)), SHA256: sum[:]}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var e *files.Entry
			for off := int64(0); off < upto; off += piece {
				end := min(off+piece, int64(len(data)))
				p, got, err := f.svc.AppendOwned(f.ctx, folder, part.ID, off, bytes.NewReader(data[off:end]), func(db.Q, files.Entry) error { return nil })
				if err != nil {
					t.Fatalf("%s: piece at %d: %v", name, off, err)
				}
				part, e = p, got
			}
			return part, e
		}
		if _, e := send("whole.bin", int64(len(data))); e == nil || e.Size != int64(len(data)) {
			t.Fatalf("the last piece published %+v", e)
		}
		r, err := f.svc.OpenOwned(f.ctx, folder, "whole.bin", func(int64, error) {})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
		r.Close()
		if !bytes.Equal(got, data) {
			t.Fatal("the owned file assembled from pieces differs")
		}
		if f.mem.Len() != 1 {
			t.Fatalf("%d blobs after completion, want the file's one", f.mem.Len())
		}
		part, _ := send("discarded.bin", 4*piece)
		if gs, err := f.db.Q().UploadSegments(f.ctx, part.ID); err != nil || len(gs) < 2 {
			t.Fatalf("segments %+v, %v; want several", gs, err)
		}
		if err := f.svc.DiscardOwned(f.ctx, folder, part.ID, nil); err != nil {
			t.Fatal(err)
		}
		if f.mem.Len() != 1 {
			t.Fatalf("%d blobs after a discard, want 1", f.mem.Len())
		}
		send("unfinished.bin", 4*piece)
		if err := f.svc.EmptyOwned(f.ctx, folder, func(db.Q) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if fo, err := f.db.Q().FolderByID(f.ctx, folder); err != nil || fo.UsedBytes != 0 {
			t.Fatalf("folder after EmptyOwned: %+v, %v", fo, err)
		}
		f.clean(0)
	})
}
