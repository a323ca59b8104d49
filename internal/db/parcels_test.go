package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
)

// TestParcelQueries runs the parcel queries whose SQL the two dialects could read
// differently: the counted download (an upsert with a condition), the token lookup,
// the paged listing and purging.
func TestParcelQueries(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := dbtest.Open(t, dsn)
		q := d.Q()
		u, err := q.CreateUser(ctx, db.NewUser{Name: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		folder, err := q.InsertParcelFolder(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		p := db.Parcel{ID: "p1", Kind: "send", OwnerID: u.ID, FolderID: folder, State: "draft", Subject: "s",
			MaxDownloads: 2, Lifetime: time.Hour, Created: now, Expires: now.Add(time.Hour), KDFSalt: []byte{1, 2}}
		if err := q.InsertParcel(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := q.ParcelByID(ctx, "p1")
		if err != nil || got.OwnerName != "alice" || got.Lifetime != time.Hour || string(got.KDFSalt) != "\x01\x02" {
			t.Fatalf("ParcelByID = %+v, %v", got, err)
		}
		if err := q.InsertParcelRecipient(ctx, db.ParcelRecipient{ID: "r1", ParcelID: "p1", Email: "a@example.org", Created: now}, nil); err != nil {
			t.Fatal(err)
		}
		if err := q.InsertParcelRecipient(ctx, db.ParcelRecipient{ID: "r2", ParcelID: "p1", Created: now}, nil); err != nil {
			t.Fatal(err) // a second recipient without a token: NULLs do not collide
		}
		if err := q.SetRecipientToken(ctx, "r1", []byte("hash-1")); err != nil {
			t.Fatal(err)
		}
		if err := q.SetRecipientToken(ctx, "r1", []byte("hash-2")); !errs.Is(errs.NotFound, err) {
			t.Fatalf("a second token for a recipient: %v, want NotFound", err)
		}
		if r, err := q.RecipientByTokenHash(ctx, []byte("hash-1")); err != nil || r.ID != "r1" {
			t.Fatalf("RecipientByTokenHash = %+v, %v", r, err)
		}
		if _, err := q.RecipientByTokenHash(ctx, []byte("hash-x")); !errs.Is(errs.NotFound, err) {
			t.Fatalf("unknown token: %v", err)
		}
		if err := q.InsertParcelFile(ctx, db.ParcelFile{ID: "f1", ParcelID: "p1", Name: "a.txt", SHA256: []byte{0}, Created: now}); err != nil {
			t.Fatal(err)
		}
		if err := q.InsertParcelFile(ctx, db.ParcelFile{ID: "f2", ParcelID: "p1", Name: "a.txt", SHA256: []byte{0}, Created: now}); !errs.Is(errs.Exist, err) {
			t.Fatalf("a second file of the same name by the same uploader: %v, want Exist", err)
		}
		for i, want := range []bool{true, true, false, false} {
			ok, err := q.CountParcelDownload(ctx, "r1", "f1", now, 2)
			if err != nil || ok != want {
				t.Fatalf("download %d: %v, %v; want %v", i+1, ok, err, want)
			}
		}
		if ok, err := q.CountParcelDownload(ctx, "r2", "f1", now, 0); err != nil || !ok {
			t.Fatalf("unlimited download: %v, %v", ok, err)
		}
		ds, err := q.ParcelDownloads(ctx, "p1")
		if err != nil || len(ds) != 2 {
			t.Fatalf("ParcelDownloads = %+v, %v", ds, err)
		}
		if n, err := q.ParcelUnlockFailed(ctx, "r1"); err != nil || n != 1 {
			t.Fatalf("ParcelUnlockFailed = %d, %v", n, err)
		}
		list, err := q.ParcelsOfOwner(ctx, u.ID, time.Time{}, "", 10)
		if err != nil || len(list) != 1 {
			t.Fatalf("ParcelsOfOwner = %+v, %v", list, err)
		}
		if list, err = q.ParcelsOfOwner(ctx, u.ID, list[0].Created, list[0].ID, 10); err != nil || len(list) != 0 {
			t.Fatalf("the page after the last: %+v, %v", list, err)
		}
		if due, err := q.ParcelsToPurge(ctx, now, 10); err != nil || len(due) != 0 {
			t.Fatalf("ParcelsToPurge before expiry = %+v, %v", due, err)
		}
		if err := q.RevokeParcel(ctx, "p1", now); err != nil {
			t.Fatal(err)
		}
		if due, err := q.ParcelsToPurge(ctx, now, 10); err != nil || len(due) != 1 {
			t.Fatalf("ParcelsToPurge after revoking = %+v, %v", due, err)
		}
	})
}
