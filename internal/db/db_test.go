package db_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
)

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errc := make(chan error, 3)
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := db.Open(ctx, dsn)
				if err != nil {
					errc <- err
					return
				}
				defer d.Close()
				errc <- d.Migrate(ctx)
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatal(err)
			}
		}
		d := dbtest.Open(t, dsn)
		v, err := d.SchemaVersion(ctx)
		if err != nil || v < 1 {
			t.Fatalf("schema version %d, %v", v, err)
		}
	})
}

func TestUsersGroupsGrants(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := dbtest.Open(t, dsn)
		var alice, bob db.User
		err := d.Tx(ctx, func(q db.Q) error {
			var err error
			if alice, err = q.CreateUser(ctx, db.NewUser{Name: "alice", PasswordHash: "h", QuotaBytes: 100}); err != nil {
				return err
			}
			bob, err = q.CreateUser(ctx, db.NewUser{Name: "bob", Admin: true})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if alice.QuotaBytes != 100 || alice.Admin || !bob.Admin || alice.HomeFolderID == bob.HomeFolderID {
			t.Fatalf("unexpected users %+v %+v", alice, bob)
		}
		q := d.Q()
		if _, err := q.CreateUser(ctx, db.NewUser{Name: "alice"}); !errs.Is(errs.Exist, err) {
			t.Fatalf("duplicate user: got %v, want Exist", err)
		}
		if _, err := q.UserByName(ctx, "nobody"); !errs.Is(errs.NotFound, err) {
			t.Fatalf("missing user: got %v", err)
		}
		g, err := q.CreateGroup(ctx, "lab")
		if err != nil {
			t.Fatal(err)
		}
		if err := q.AddMember(ctx, g.ID, alice.ID); err != nil {
			t.Fatal(err)
		}
		if err := q.AddMember(ctx, g.ID, alice.ID); err != nil {
			t.Fatalf("re-adding a member: %v", err)
		}
		f, err := q.CreateSharedFolder(ctx, "results", 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.PutGroupGrant(ctx, f.ID, g.ID, 1|2); err != nil {
			t.Fatal(err)
		}
		if err := q.PutUserGrant(ctx, f.ID, alice.ID, 4); err != nil {
			t.Fatal(err)
		}
		if err := q.PutUserGrant(ctx, f.ID, alice.ID, 8); err != nil { // replaces
			t.Fatal(err)
		}
		acc, err := q.GrantsForUser(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		var perms int64
		for _, a := range acc {
			if a.FolderName != "results" {
				t.Fatalf("unexpected folder %q", a.FolderName)
			}
			perms |= a.Perms
		}
		if perms != 1|2|8 {
			t.Fatalf("alice perms = %b, want %b", perms, 1|2|8)
		}
		if acc, _ := q.GrantsForUser(ctx, bob.ID); len(acc) != 0 {
			t.Fatalf("bob has grants %v", acc)
		}
		gs, err := q.FolderGrants(ctx, f.ID)
		if err != nil || len(gs) != 2 {
			t.Fatalf("folder grants %v, %v", gs, err)
		}
		if err := q.DeleteGroup(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		if gs, _ := q.FolderGrants(ctx, f.ID); len(gs) != 1 {
			t.Fatalf("group grant survived its group: %v", gs)
		}
	})
}

func TestQuotaCharge(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := dbtest.Open(t, dsn)
		q := d.Q()
		u, err := q.CreateUser(ctx, db.NewUser{Name: "u", QuotaBytes: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			delta int64
			ok    bool
		}{{6, true}, {5, false}, {4, true}, {1, false}, {-3, true}, {3, true}} {
			ok, err := q.ChargeFolder(ctx, u.HomeFolderID, c.delta)
			if err != nil || ok != c.ok {
				t.Fatalf("charge %d: ok=%v err=%v, want %v", c.delta, ok, err, c.ok)
			}
		}
		f, _ := q.FolderByID(ctx, u.HomeFolderID)
		if f.UsedBytes != 10 {
			t.Fatalf("used %d, want 10", f.UsedBytes)
		}
	})
}

func TestEntriesTreeAndPagination(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := dbtest.Open(t, dsn)
		q := d.Q()
		u, _ := q.CreateUser(ctx, db.NewUser{Name: "u"})
		now := time.Now()
		dir, err := q.InsertEntry(ctx, db.Entry{FolderID: u.HomeFolderID, Name: "dir", IsDir: true, Created: now, Modified: now})
		if err != nil {
			t.Fatal(err)
		}
		// Bytewise order: "B" < "a" < "é"; PostgreSQL must not use a locale collation.
		names := []string{"é", "a", "B", "a b", "a.txt", "a-1"}
		for i, n := range names {
			_, err := q.InsertEntry(ctx, db.Entry{FolderID: u.HomeFolderID, ParentID: dir.ID, Name: n, Size: int64(i),
				SHA256: []byte{1, 2}, BlobID: fmt.Sprintf("%032x", i), CryptHeader: []byte("h"), Created: now, Modified: now})
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := q.InsertEntry(ctx, db.Entry{FolderID: u.HomeFolderID, ParentID: dir.ID, Name: "a", Created: now, Modified: now}); !errs.Is(errs.Exist, err) {
			t.Fatalf("duplicate name: %v", err)
		}
		var got []string
		after := ""
		for {
			page, err := q.ListChildren(ctx, u.HomeFolderID, dir.ID, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				got = append(got, e.Name)
			}
			after = page[len(page)-1].Name
		}
		want := []string{"B", "a", "a b", "a-1", "a.txt", "é"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("listing order %q, want %q", got, want)
		}
		files, err := q.SubtreeFiles(ctx, dir.ID)
		if err != nil || len(files) != len(names) {
			t.Fatalf("subtree files %v %v", files, err)
		}
		f2, _ := q.CreateSharedFolder(ctx, "shared", 0)
		if err := d.Tx(ctx, func(q db.Q) error {
			if err := q.MoveEntry(ctx, dir.ID, f2.ID, 0, "moved"); err != nil {
				return err
			}
			return q.SetSubtreeFolder(ctx, dir.ID, f2.ID)
		}); err != nil {
			t.Fatal(err)
		}
		e, err := q.LookupChild(ctx, f2.ID, dir.ID, "a.txt")
		if err != nil || e.Size != 4 || string(e.CryptHeader) != "h" {
			t.Fatalf("moved child: %+v %v", e, err)
		}
		if in, _ := q.SubtreeContains(ctx, dir.ID, e.ID); !in {
			t.Fatal("SubtreeContains: child not found under its dir")
		}
		if err := q.DeleteSubtree(ctx, dir.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := q.EntryByID(ctx, e.ID); !errs.Is(errs.NotFound, err) {
			t.Fatalf("child survived subtree delete: %v", err)
		}
	})
}

func TestTokensLockoutsSettings(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := dbtest.Open(t, dsn)
		q := d.Q()
		u, _ := q.CreateUser(ctx, db.NewUser{Name: "u"})
		now := time.Now()
		if err := q.InsertToken(ctx, db.Token{ID: "tok1", UserID: u.ID, SecretHash: []byte{9}, Name: "cron", Created: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		tok, err := q.TokenByID(ctx, "tok1")
		if err != nil || tok.UserName != "u" || tok.Revoked || tok.Expires.Before(now) {
			t.Fatalf("token %+v %v", tok, err)
		}
		if err := q.RevokeToken(ctx, "tok1"); err != nil {
			t.Fatal(err)
		}
		if tok, _ := q.TokenByID(ctx, "tok1"); !tok.Revoked {
			t.Fatal("revoked token not revoked")
		}
		for range 3 {
			q.AddLoginFailure(ctx, "ip", "127.0.0.1", now)
		}
		if n, _ := q.CountLoginFailures(ctx, "ip", "127.0.0.1", now.Add(-time.Minute)); n != 3 {
			t.Fatalf("failures %d", n)
		}
		if n, _ := q.CountLoginFailures(ctx, "ip", "127.0.0.1", now.Add(time.Minute)); n != 0 {
			t.Fatalf("failures in the future %d", n)
		}
		q.SetLockout(ctx, "user", "u", now.Add(time.Hour))
		q.SetLockout(ctx, "user", "u", now.Add(2*time.Hour))
		until, err := q.LockoutUntil(ctx, "user", "u")
		if err != nil || until.Sub(now) < time.Hour+59*time.Minute {
			t.Fatalf("lockout until %v %v", until, err)
		}
		if until, err := q.LockoutUntil(ctx, "user", "v"); err != nil || !until.IsZero() {
			t.Fatalf("no lockout: %v %v", until, err)
		}
		if _, err := q.Setting(ctx, "x"); !errs.Is(errs.NotFound, err) {
			t.Fatal(err)
		}
		q.PutSetting(ctx, "x", "1")
		q.PutSetting(ctx, "x", "2")
		if v, _ := q.Setting(ctx, "x"); v != "2" {
			t.Fatalf("setting %q", v)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := db.Open(ctx, "postgres://nobody:secret@127.0.0.1:1/x?connect_timeout=2"); !errs.Is(errs.Unavailable, err) {
		t.Fatalf("unreachable PostgreSQL: %v", err)
	} else if s := err.Error(); strings.Contains(s, "secret") {
		t.Fatalf("error leaks the password: %s", s)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := db.Open(ctx, filepath.Join(file, "coffer.db")); err == nil {
		t.Fatal("opening a database beneath a regular file succeeded")
	}
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte("this is not a database, just some bytes long enough to matter............"), 0o600)
	if _, err := db.Open(ctx, junk); err == nil {
		t.Fatal("opening a non-database file succeeded")
	}
}
