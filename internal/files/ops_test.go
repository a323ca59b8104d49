package files_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

func TestMkdir(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		f.put(alice, "/file", []byte("x"))
		f.grant(f.folder("team", 0), alice, allPerms)
		steps := []struct {
			path    string
			parents bool
			want    errs.Kind
		}{
			{"/a", false, errs.Other},
			{"/a", false, errs.Exist},
			{"/a", true, errs.Other}, // mkdir -p of an existing directory
			{"/x/y/z", false, errs.NotFound},
			{"/x/y/z", true, errs.Other},
			{"/x/y", false, errs.Exist},
			{"/file", false, errs.Exist},
			{"/file", true, errs.Exist},
			{"/file/sub", true, errs.NotDir},
			{"/", false, errs.Exist},
			{"/", true, errs.Other},
			{"/team", false, errs.Exist},
			{"/team", true, errs.Other},
			{"/team/in/side", true, errs.Other},
			{"/a/../b", true, errs.Invalid},
		}
		for _, s := range steps {
			e, err := f.svc.Mkdir(f.ctx, alice, s.path, s.parents)
			wantKind(t, "Mkdir "+s.path, err, s.want)
			if err == nil && (!e.IsDir || e.Path != s.path) {
				t.Errorf("Mkdir %s returned %+v", s.path, e)
			}
		}
		for _, path := range []string{"/a", "/x", "/x/y", "/x/y/z", "/team/in", "/team/in/side"} {
			if e, err := f.svc.Stat(f.ctx, alice, path); err != nil || !e.IsDir {
				t.Errorf("Stat %s = %+v, %v; want a directory", path, e, err)
			}
		}
		if used, _, _ := f.svc.Usage(f.ctx, alice); used != 1 {
			t.Errorf("directories are charged: usage %d", used)
		}
	})
}

func TestCreateParentsAndDirectories(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		f.mkdir(alice, "/dir")
		f.put(alice, "/file", []byte("x"))
		f.grant(f.folder("team", 0), alice, allPerms)
		cases := []struct {
			path    string
			parents bool
			want    errs.Kind
		}{
			{"/p/q/r.txt", false, errs.NotFound},
			{"/p/q/r.txt", true, errs.Other},
			{"/team/s/t.txt", true, errs.Other},
			{"/dir", false, errs.IsDir},
			{"/dir", true, errs.IsDir},
			{"/p/q", true, errs.IsDir},
			{"/", false, errs.IsDir},
			{"/team", false, errs.IsDir},
			{"/file/x", true, errs.NotDir},
			{"/file/x", false, errs.NotDir},
		}
		for _, c := range cases {
			body := strings.NewReader("content")
			_, err := f.svc.Create(f.ctx, alice, c.path, body, files.CreateOptions{Size: 7, Parents: c.parents})
			wantKind(t, "Create "+c.path, err, c.want)
			if c.want != errs.Other && body.Len() != 7 {
				t.Errorf("Create %s read the body before refusing it", c.path)
			}
		}
		if got := f.get(alice, "/p/q/r.txt"); string(got) != "content" {
			t.Errorf("/p/q/r.txt = %q", got)
		}
		if e, err := f.svc.Stat(f.ctx, alice, "/p/q"); err != nil || !e.IsDir {
			t.Errorf("Stat /p/q = %+v, %v", e, err)
		}
		f.clean(3)
	})
}

func TestRename(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		f.grant(f.folder("team", 0), alice, allPerms)
		f.put(alice, "/a", []byte("A"))
		f.put(alice, "/b", []byte("BB"))
		f.put(alice, "/d/x/f", []byte("F"))
		f.mkdir(alice, "/e")

		steps := []struct {
			from, to  string
			overwrite bool
			want      errs.Kind
		}{
			{"/a", "/b", false, errs.Exist},
			{"/a", "/d", true, errs.Exist},        // never over a directory
			{"/d", "/b", true, errs.Exist},        // never a directory over a file
			{"/d", "/d/x/d", false, errs.Invalid}, // into itself
			{"/d", "/d/d", false, errs.Invalid},
			{"/d", "/d", false, errs.Other}, // onto itself: nothing to do
			{"/missing", "/m", false, errs.NotFound},
			{"/a", "/nodir/a", false, errs.NotFound},
			{"/a", "/b/a", false, errs.NotDir},
			{"/", "/root", false, errs.Permission},
			{"/team", "/team2", false, errs.Permission},
			{"/a", "/team", true, errs.Exist},
			{"/a", "/", true, errs.Exist},
			{"/a", "/../a", false, errs.Invalid},
			{"/a", "/b", true, errs.Other}, // replaces b
			{"/d", "/e/d", false, errs.Other},
			{"/e", "/team/e", false, errs.Other},
		}
		for _, s := range steps {
			err := f.svc.Rename(f.ctx, alice, s.from, s.to, s.overwrite)
			wantKind(t, "Rename "+s.from+" to "+s.to, err, s.want)
		}
		f.absent(alice, "/a")
		if got := f.get(alice, "/b"); string(got) != "A" {
			t.Errorf("/b = %q after replacing it by /a", got)
		}
		if got := f.get(alice, "/team/e/d/x/f"); string(got) != "F" {
			t.Errorf("/team/e/d/x/f = %q", got)
		}
		if used, _, _ := f.svc.Usage(f.ctx, alice); used != 1 {
			t.Errorf("home usage %d, want 1", used)
		}
		f.clean(2) // B's blob was collected
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		f.grant(f.folder("team", 0), alice, allPerms)
		f.put(alice, "/keep", []byte("k"))
		for _, p := range []string{"/d/1", "/d/2", "/d/x/3", "/d/x/y/4", "/d/empty/.keep"} {
			f.put(alice, p, []byte(p))
		}
		f.mkdir(alice, "/d/z/z/z")
		f.mkdir(alice, "/empty")

		steps := []struct {
			path      string
			recursive bool
			want      errs.Kind
		}{
			{"/d", false, errs.Conflict},
			{"/", true, errs.Permission},
			{"/team", true, errs.Permission},
			{"/missing", false, errs.NotFound},
			{"/keep/x", false, errs.NotDir},
			{"/empty", false, errs.Other},
			{"/d/1", false, errs.Other},
			{"/d/1", false, errs.NotFound},
			{"/d", true, errs.Other},
		}
		for _, s := range steps {
			err := f.svc.Delete(f.ctx, alice, s.path, s.recursive)
			wantKind(t, "Delete "+s.path, err, s.want)
		}
		page, _, err := f.svc.List(f.ctx, alice, "/", "", 10)
		if err != nil || !slices.Equal(names(page), []string{"keep", "team"}) {
			t.Errorf("root after deleting: %q, %v", names(page), err)
		}
		if used, _, _ := f.svc.Usage(f.ctx, alice); used != 1 {
			t.Errorf("usage %d after deleting, want 1", used)
		}
		f.clean(1) // every blob under /d was collected
		rec := f.lastRecord("dir.delete", "/d")
		if rec.Detail != "4 files" || rec.Bytes != int64(len("/d/2/d/x/3/d/x/y/4/d/empty/.keep")) {
			t.Errorf("dir.delete record: %d bytes, %q", rec.Bytes, rec.Detail)
		}
	})
}

func TestSetModified(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		mod := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
		e, err := f.svc.Create(f.ctx, alice, "/a", bytes.NewReader(nil), files.CreateOptions{Size: 0, Modified: mod})
		if err != nil || !e.Modified.Equal(mod) {
			t.Fatalf("Create with a time: %+v, %v", e, err)
		}
		later := mod.Add(time.Hour)
		if err := f.svc.SetModified(f.ctx, alice, "/a", later); err != nil {
			t.Fatal(err)
		}
		if st, err := f.svc.Stat(f.ctx, alice, "/a"); err != nil || !st.Modified.Equal(later) {
			t.Errorf("Stat after SetModified: %v, %v; want %v", st.Modified, err, later)
		}
		wantKind(t, "SetModified of a missing file", f.svc.SetModified(f.ctx, alice, "/b", later), errs.NotFound)
		reader := f.user("reader", 0)
		team := f.folder("team", 0)
		f.grant(team, alice, allPerms)
		f.grant(team, reader, authz.List|authz.Read)
		f.put(alice, "/team/t", []byte("t"))
		wantKind(t, "SetModified without Write", f.svc.SetModified(f.ctx, reader, "/team/t", later), errs.Permission)
	})
}
