package parcel_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/parcel"
)

// cutReader yields its bytes, then fails as a connection that breaks.
type cutReader struct{ r io.Reader }

func (c *cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset by peer")
	}
	return n, err
}

// TestResumableUploadLimits: uploads under way count toward a parcel's file limit, the
// quota holds for what they store, an upload is its link's alone, and the purge of a
// revoked parcel takes its partial uploads too.
func TestResumableUploadLimits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		pol := parcel.DefaultPolicy()
		pol.MaxParcelBytes, pol.MaxFiles = 1000, 2
		f := newFixtureWith(t, dsn, pol, nil)
		p, links, err := f.svc.Create(f.ctx, f.alice, parcel.NewParcel{Kind: parcel.KindRequest, Subject: "scans",
			Recipients: []string{"a@example.org", "b@example.org"}})
		if err != nil {
			t.Fatal(err)
		}
		one, two := access(links[0].Token), access(links[1].Token)
		u1, err := f.svc.StartUpload(f.ctx, one, "a.bin", 600, nil)
		if err != nil {
			t.Fatal(err)
		}
		u2, err := f.svc.StartUpload(f.ctx, one, "b.bin", 600, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.StartUpload(f.ctx, two, "c.bin", 1, nil)
		wantKind(t, "a third file while two uploads are under way", err, errs.TooLarge)
		_, err = f.svc.StartUpload(f.ctx, one, "b.bin", 1001, nil)
		wantKind(t, "an upload larger than the parcel", err, errs.Quota)
		if _, err := f.svc.UploadStatus(f.ctx, one, u2.ID); err != nil {
			t.Fatalf("a refused restart dropped the upload it would have replaced: %v", err)
		}

		_, err = f.svc.Upload(f.ctx, two, "d.bin", strings.NewReader("d"), 1, nil)
		wantKind(t, "a PUT while uploads under way hold every place", err, errs.TooLarge)

		// Another link learns nothing of one's uploads; the owner's draft endpoints neither.
		_, err = f.svc.UploadStatus(f.ctx, two, u1.ID)
		if !errs.Is(errs.NotFound, err) || !errors.Is(err, parcel.ErrNoUpload) {
			t.Fatalf("another link's status of the upload: %v", err)
		}
		_, _, err = f.svc.AppendUpload(f.ctx, two, u1.ID, 0, bytes.NewReader(make([]byte, 600)))
		wantKind(t, "another link appending", err, errs.NotFound)
		wantKind(t, "another link discarding", f.svc.DiscardUpload(f.ctx, two, u1.ID), errs.NotFound)
		_, err = f.svc.FileUpload(f.ctx, f.bob, p.ID, u1.ID)
		wantKind(t, "another user", err, errs.NotFound)

		// A cut keeps what arrived; the rest completes the file.
		data := bytes.Repeat([]byte("x"), 600)
		got, file, err := f.svc.AppendUpload(f.ctx, one, u1.ID, 0, &cutReader{bytes.NewReader(data[:250])})
		if err == nil || file != nil || got.Offset != 250 {
			t.Fatalf("a cut piece: %+v, %v, %v", got, file, err)
		}
		if st, err := f.svc.UploadStatus(f.ctx, one, u1.ID); err != nil || st.Offset != 250 || st.Length != 600 {
			t.Fatalf("after the cut: %+v, %v", st, err)
		}
		if v, err := f.svc.View(f.ctx, one); err != nil || len(v.Files) != 0 {
			t.Fatalf("an incomplete upload is visible: %+v, %v", v, err)
		}
		_, _, err = f.svc.AppendUpload(f.ctx, one, u1.ID, 0, bytes.NewReader(data))
		wantKind(t, "a stale offset", err, errs.Conflict)
		_, file, err = f.svc.AppendUpload(f.ctx, one, u1.ID, 250, bytes.NewReader(data[250:]))
		if err != nil || file == nil || file.Name != "a.bin" || file.Size != 600 {
			t.Fatalf("completing: %+v, %v", file, err)
		}
		// The second needs 600 bytes; 400 are left.
		_, file, err = f.svc.AppendUpload(f.ctx, one, u2.ID, 0, bytes.NewReader(data))
		if !errs.Is(errs.Quota, err) || file != nil {
			t.Fatalf("over the quota: %v, %v", file, err)
		}

		// Revoked: the upload stops, and the purge takes its bytes.
		if err := f.svc.Revoke(f.ctx, f.alice, p.ID); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.UploadStatus(f.ctx, one, u2.ID)
		wantKind(t, "a revoked parcel's upload", err, errs.Gone)
		if _, err := f.svc.Purge(f.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.Q().UploadByID(f.ctx, u2.ID); !errs.Is(errs.NotFound, err) {
			t.Fatalf("the partial upload outlived the purge: %v", err)
		}
		if _, err := f.db.Q().ParcelUploadByID(f.ctx, u2.ID); !errs.Is(errs.NotFound, err) {
			t.Fatalf("the parcel upload outlived the purge: %v", err)
		}
		if f.blobs.Len() != 0 {
			t.Fatalf("%d blobs left after the purge", f.blobs.Len())
		}
	})
}

// TestResumableUploadExpires: a partial upload that nobody continues expires as any other
// does, and its place in the parcel with it.
func TestResumableUploadExpires(t *testing.T) {
	f := newFixtureWith(t, dbtest.SQLiteDSN(t), parcel.DefaultPolicy(), func(fs *files.Service) { fs.SetPartialTTL(time.Millisecond) })
	p, _, err := f.svc.Create(f.ctx, f.alice, parcel.NewParcel{Subject: "draft"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.svc.StartFile(f.ctx, f.alice, p.ID, "a.txt", 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID
	// The files service keeps its own (real) clock: collect until the millisecond passed.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := f.files.CollectGarbage(f.ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.Q().UploadByID(f.ctx, id); errs.Is(errs.NotFound, err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the partial upload did not expire")
		}
	}
	if _, err := f.db.Q().ParcelUploadByID(f.ctx, id); !errs.Is(errs.NotFound, err) {
		t.Fatalf("the parcel upload outlived its partial upload: %v", err)
	}
	recs, err := f.db.Q().AuditQuery(f.ctx, db.AuditFilter{Action: audit.ActUploadExpire}, 10)
	if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Detail, "a parcel's uploader") {
		t.Fatalf("the expiry's audit record: %+v, %v", recs, err)
	}
	_, err = f.svc.FileUpload(f.ctx, f.alice, p.ID, id)
	wantKind(t, "an expired upload", err, errs.NotFound)
	if _, err := f.svc.AddFile(f.ctx, f.alice, p.ID, "a.txt", strings.NewReader("0123456789"), 10, nil); err != nil {
		t.Fatalf("the name of an expired upload is free again: %v", err)
	}
}
