package files_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// listAll pages through a directory and returns every entry in the order received.
func (f *fixture) listAll(p auth.Principal, path string, limit int) []files.Entry {
	f.t.Helper()
	var all []files.Entry
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			f.t.Fatalf("listing %s does not end", path)
		}
		page, next, err := f.svc.List(f.ctx, p, path, after, limit)
		if err != nil {
			f.t.Fatalf("List %s after %q: %v", path, after, err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		if next <= after {
			f.t.Fatalf("List %s: cursor went from %q back to %q", path, after, next)
		}
		after = next
	}
}

func names(entries []files.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Name
	}
	return out
}

func TestListPaginates(t *testing.T) {
	t.Parallel()
	// Names whose bytewise order differs from any natural-language collation's.
	prefixes := []string{"a", "B", "z", "Z", "_", "é", "日本", "0", "~", " ", "a b", "É", "-", "ß"}
	const n = 2500
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("%s%04d", prefixes[i%len(prefixes)], rand.IntN(10000)) + fmt.Sprint("-", i)
	}
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		f.mkdir(alice, "/big")
		home := f.homeID(alice)
		dir, err := f.db.Q().LookupChild(f.ctx, home, 0, "big")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		err = f.db.Tx(f.ctx, func(q db.Q) error {
			for _, name := range want {
				if _, err := q.InsertEntry(f.ctx, db.Entry{FolderID: home, ParentID: dir.ID, Name: name, IsDir: true, Created: now, Modified: now}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sorted := slices.Clone(want)
		slices.Sort(sorted) // Go compares strings bytewise

		pages := 0
		var got []string
		after := ""
		for {
			page, next, err := f.svc.List(f.ctx, alice, "/big", after, 1000)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page) > 1000 {
				t.Errorf("a page of %d entries for limit 1000", len(page))
			}
			for _, e := range page {
				if e.Path != "/big/"+e.Name || !e.IsDir || e.Perm != allPerms {
					t.Errorf("listed entry %+v", e)
				}
				got = append(got, e.Name)
			}
			if next == "" {
				break
			}
			after = next
		}
		if pages != 3 {
			t.Errorf("%d pages for 2500 entries at 1000 a page, want 3", pages)
		}
		if !slices.Equal(got, sorted) {
			t.Errorf("listing differs from the bytewise sorted names: %d entries, first %q, want %d, first %q",
				len(got), got[:min(5, len(got))], len(sorted), sorted[:5])
		}

		// Limits out of range mean the largest page.
		for _, limit := range []int{0, -1, files.MaxListLimit + 1} {
			page, next, err := f.svc.List(f.ctx, alice, "/big", "", limit)
			if err != nil || len(page) != n || next != "" {
				t.Errorf("List with limit %d: %d entries, next %q, %v; want all %d", limit, len(page), next, err, n)
			}
		}
	})
}

func TestListRootMergesSharedFolders(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		for _, name := range []string{"a", "c", "e", "g"} {
			f.put(alice, "/"+name, []byte(name))
		}
		f.mkdir(alice, "/d") // hidden by the shared folder d
		f.put(alice, "/d/secret", []byte("mine"))
		for _, name := range []string{"b", "d", "f"} {
			f.grant(f.folder(name, 0), alice, authz.List)
		}
		f.folder("c2", 0) // not granted: never listed

		want := []string{"a", "b", "c", "d", "e", "f", "g"}
		for limit := 1; limit <= 9; limit++ {
			got := f.listAll(alice, "/", limit)
			if !slices.Equal(names(got), want) {
				t.Errorf("limit %d: root lists %q, want %q", limit, names(got), want)
			}
			for _, e := range got {
				shared := strings.Contains("bdf", e.Name)
				if e.Shared != shared || (shared && (!e.IsDir || e.Perm != authz.List || e.Path != "/"+e.Name)) {
					t.Errorf("limit %d: entry %+v", limit, e)
				}
			}
		}

		// The shared folder wins over the home entry of the same name, everywhere.
		if _, err := f.svc.Stat(f.ctx, alice, "/d/secret"); !errs.Is(errs.NotFound, err) {
			t.Errorf("Stat of a hidden home entry = %v, want NotFound", err)
		}
		st, err := f.svc.Stat(f.ctx, alice, "/d")
		if err != nil || !st.Shared || !st.IsDir {
			t.Errorf("Stat /d = %+v, %v; want the shared folder", st, err)
		}

		// A user with no home entries still sees the shared folders, on one page.
		bob := f.user("bob", 0)
		f.grant(f.folder("x", 0), bob, authz.List)
		f.grant(f.folder("y", 0), bob, authz.Read)
		page, next, err := f.svc.List(f.ctx, bob, "/", "", 1)
		if err != nil || next != "" || !slices.Equal(names(page), []string{"x", "y"}) {
			t.Errorf("bob's root: %q, %q, %v", names(page), next, err)
		}
	})
}

func TestListErrors(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		f.put(alice, "/file", []byte("x"))
		f.mkdir(alice, "/dir/sub")
		for _, c := range []struct {
			path string
			want errs.Kind
		}{
			{"/file", errs.NotDir},
			{"/file/x", errs.NotDir},
			{"/missing", errs.NotFound},
			{"/dir/missing", errs.NotFound},
			{"/dir/../file", errs.Invalid},
			{"/dir", errs.Other},
			{"/dir/sub/", errs.Other},
		} {
			_, _, err := f.svc.List(f.ctx, alice, c.path, "", 10)
			wantKind(t, "List "+c.path, err, c.want)
		}
	})
}

// TestListOrdered pages through a directory in every order, with ties of size and time,
// and checks the whole sequence against a sort of the same entries.
func TestListOrdered(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		f.mkdir(alice, "/d")
		home := f.homeID(alice)
		dir, err := f.db.Q().LookupChild(f.ctx, home, 0, "d")
		if err != nil {
			t.Fatal(err)
		}
		base := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
		type ent struct {
			name     string
			size     int64
			modified time.Time
		}
		var all []ent
		err = f.db.Tx(f.ctx, func(q db.Q) error {
			for i := range 97 {
				e := ent{fmt.Sprintf("f%03d-%d", (i*37)%97, i), int64(i % 7), base.Add(time.Duration(i%5) * time.Hour)}
				all = append(all, e)
				if _, err := q.InsertEntry(f.ctx, db.Entry{FolderID: home, ParentID: dir.ID, Name: e.name, Size: e.size, Created: e.modified, Modified: e.modified}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		cmpBy := map[files.Order]func(a, b ent) int{
			files.BySize:     func(a, b ent) int { return cmp.Compare(a.size, b.size) },
			files.ByModified: func(a, b ent) int { return a.modified.Compare(b.modified) },
			files.ByName:     func(a, b ent) int { return 0 },
		}
		for _, sortName := range []string{"name", "size", "modified"} {
			for _, dir := range []string{"asc", "desc"} {
				o, err := files.ParseOrder(sortName, dir)
				if err != nil {
					t.Fatal(err)
				}
				want := slices.Clone(all)
				slices.SortFunc(want, func(a, b ent) int {
					c := cmpBy[o&^1](a, b) // the ascending order of the same key
					if c == 0 {
						c = strings.Compare(a.name, b.name)
					}
					if dir == "desc" {
						c = -c
					}
					return c
				})
				var got []string
				after := ""
				for pages := 0; ; pages++ {
					if pages > 100 {
						t.Fatalf("%s %s does not end", sortName, dir)
					}
					page, next, err := f.svc.ListOrdered(f.ctx, alice, "/d", o, after, 10)
					if err != nil {
						t.Fatalf("%s %s after %q: %v", sortName, dir, after, err)
					}
					got = append(got, names(page)...)
					if next == "" {
						break
					}
					after = next
				}
				wantNames := make([]string, len(want))
				for i, e := range want {
					wantNames[i] = e.name
				}
				if !slices.Equal(got, wantNames) {
					t.Errorf("%s %s: got %q\nwant %q", sortName, dir, got, wantNames)
				}
			}
		}
		if _, _, err := f.svc.ListOrdered(f.ctx, alice, "/d", files.BySize, "not-a-cursor", 10); !errs.Is(errs.Invalid, err) {
			t.Errorf("a name cursor in size order: %v, want Invalid", err)
		}
		if _, err := files.ParseOrder("owner", ""); !errs.Is(errs.Invalid, err) {
			t.Errorf("sort=owner: %v", err)
		}
	})
}
