package files_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// op is one file operation by p on the shared folder dir ("/name"), which holds
// report.csv and the directory q1.
type op struct {
	name   string
	action string // the audit action a failure is recorded under
	path   string // the path, under dir, that the record names
	do     func(f *fixture, p auth.Principal, dir string) error
}

// stolen is where "move out" tries to put the report.
func stolen(dir string) string { return "/stolen-" + dir[1:] + ".csv" }

var fileOps = []op{
	{"list", audit.ActDirList, "", func(f *fixture, p auth.Principal, dir string) error {
		_, _, err := f.svc.List(f.ctx, p, dir, "", 10)
		return err
	}},
	{"stat", audit.ActFileStat, "/report.csv", func(f *fixture, p auth.Principal, dir string) error {
		_, err := f.svc.Stat(f.ctx, p, dir+"/report.csv")
		return err
	}},
	{"open", audit.ActFileDownload, "/report.csv", func(f *fixture, p auth.Principal, dir string) error {
		r, err := f.svc.Open(f.ctx, p, dir+"/report.csv")
		if err == nil {
			r.Close()
		}
		return err
	}},
	{"create", audit.ActFileUpload, "/new.csv", func(f *fixture, p auth.Principal, dir string) error {
		_, err := f.svc.Create(f.ctx, p, dir+"/new.csv", strings.NewReader("n"), files.CreateOptions{Size: 1})
		return err
	}},
	{"replace", audit.ActFileUpload, "/report.csv", func(f *fixture, p auth.Principal, dir string) error {
		_, err := f.svc.Create(f.ctx, p, dir+"/report.csv", strings.NewReader("r"), files.CreateOptions{Size: 1})
		return err
	}},
	{"mkdir", audit.ActDirCreate, "/q2", func(f *fixture, p auth.Principal, dir string) error {
		_, err := f.svc.Mkdir(f.ctx, p, dir+"/q2", false)
		return err
	}},
	{"rename within", audit.ActFileRename, "/report.csv", func(f *fixture, p auth.Principal, dir string) error {
		return f.svc.Rename(f.ctx, p, dir+"/report.csv", dir+"/q1/report.csv", false)
	}},
	{"move out", audit.ActFileRename, "/report.csv", func(f *fixture, p auth.Principal, dir string) error {
		return f.svc.Rename(f.ctx, p, dir+"/report.csv", stolen(dir), false)
	}},
	{"delete", audit.ActFileDelete, "/report.csv", func(f *fixture, p auth.Principal, dir string) error {
		return f.svc.Delete(f.ctx, p, dir+"/report.csv", false)
	}},
	{"set modified", audit.ActFileStat, "/report.csv", func(f *fixture, p auth.Principal, dir string) error {
		return f.svc.SetModified(f.ctx, p, dir+"/report.csv", time.Unix(1e9, 0))
	}},
}

func TestAuthorisation(t *testing.T) {
	t.Parallel()
	const (
		ok   = errs.Other
		hide = errs.NotFound
		deny = errs.Permission
	)
	// want[op name] for each grant; a missing name means ok.
	cases := []struct {
		name  string
		perm  authz.Perm
		grant bool
		want  map[string]errs.Kind
	}{
		{"no grant", 0, false, map[string]errs.Kind{"list": hide, "stat": hide, "open": hide, "create": hide, "replace": hide,
			"mkdir": hide, "rename within": hide, "move out": hide, "delete": hide, "set modified": hide}},
		{"write only (drop box)", authz.Write, true, map[string]errs.Kind{"list": hide, "stat": hide, "open": hide,
			"move out": hide, "delete": hide}},
		{"list", authz.List, true, map[string]errs.Kind{"open": deny, "create": deny, "replace": deny, "mkdir": deny,
			"rename within": deny, "move out": deny, "delete": deny, "set modified": deny}},
		{"list,read", authz.List | authz.Read, true, map[string]errs.Kind{"create": deny, "replace": deny, "mkdir": deny,
			"rename within": deny, "move out": deny, "delete": deny, "set modified": deny}},
		{"list,read,write", authz.List | authz.Read | authz.Write, true, map[string]errs.Kind{"move out": deny, "delete": deny}},
		// Moving out needs Read and Delete where the file leaves (and Write where it
		// arrives): Delete alone must not let one move a file home and read it there.
		{"list,delete", authz.List | authz.Delete, true, map[string]errs.Kind{"open": deny, "create": deny, "replace": deny,
			"mkdir": deny, "rename within": deny, "move out": deny, "set modified": deny}},
		{"list,read,delete", authz.List | authz.Read | authz.Delete, true, map[string]errs.Kind{"create": deny, "replace": deny,
			"mkdir": deny, "rename within": deny, "set modified": deny}},
		{"all", allPerms, true, nil},
	}
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		owner := f.user("olivia", 0)
		mallory := f.user("mallory", 0)
		report := []byte("date,amount\n")
		for ci, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				for oi, o := range fileOps {
					// A folder of its own per operation, so that one's effect cannot mask another's.
					dir := fmt.Sprintf("/f%d-%d", ci, oi)
					folder := f.folder(dir[1:], 0)
					f.grant(folder, owner, allPerms)
					f.put(owner, dir+"/report.csv", report)
					f.mkdir(owner, dir+"/q1")
					if c.grant {
						f.grant(folder, mallory, c.perm)
					}

					err := o.do(f, mallory, dir)
					want := c.want[o.name]
					wantKind(t, o.name, err, want)
					if want == ok {
						continue
					}
					if c.grant { // else the folder does not exist for mallory: there is nothing to deny
						rec := f.lastRecord(o.action, dir+o.path)
						if rec.Result != audit.Denied || rec.Actor != "mallory" {
							t.Errorf("%s: audited as %q by %q, want %q by mallory", o.name, rec.Result, rec.Actor, audit.Denied)
						}
					}
					if got := f.get(owner, dir+"/report.csv"); !bytes.Equal(got, report) {
						t.Errorf("%s: a refused operation changed the file", o.name)
					}
					for _, path := range []string{dir + "/new.csv", dir + "/q2", dir + "/q1/report.csv"} {
						f.absent(owner, path)
					}
					if _, err := f.svc.Stat(f.ctx, mallory, stolen(dir)); !errs.Is(errs.NotFound, err) {
						t.Errorf("%s: the file reached mallory's home", o.name)
					}
				}
			})
		}
	})
}

// TestAdminHasNoFileAccess: the administrator role manages accounts, not files.
func TestAdminHasNoFileAccess(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		root := f.account(db.NewUser{Name: "root", Admin: true})
		f.put(alice, "/secret.txt", []byte("alice's"))
		hr := f.folder("hr", 0)
		f.grant(hr, alice, allPerms)
		f.put(alice, "/hr/salaries.csv", []byte("x"))

		for _, path := range []string{"/secret.txt", "/hr/salaries.csv", "/hr"} {
			if _, err := f.svc.Stat(f.ctx, root, path); !errs.Is(errs.NotFound, err) {
				t.Errorf("admin Stat %s = %v, want NotFound", path, err)
			}
			if _, err := f.svc.Open(f.ctx, root, path); !errs.Is(errs.NotFound, err) {
				t.Errorf("admin Open %s = %v, want NotFound", path, err)
			}
		}
		if err := f.svc.Delete(f.ctx, root, "/hr/salaries.csv", false); !errs.Is(errs.NotFound, err) {
			t.Errorf("admin Delete = %v, want NotFound", err)
		}
		page, _, err := f.svc.List(f.ctx, root, "/", "", 100)
		if err != nil || len(page) != 0 {
			t.Errorf("admin's root lists %q, %v; want nothing", names(page), err)
		}
		if got := f.get(alice, "/hr/salaries.csv"); string(got) != "x" {
			t.Errorf("salaries.csv = %q", got)
		}
	})
}

func TestGroupGrant(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		bob := f.user("bob", 0)
		finance := f.folder("finance", 0)
		f.grant(finance, alice, allPerms)
		f.put(alice, "/finance/report.csv", []byte("numbers"))
		q := f.db.Q()
		g, err := q.CreateGroup(f.ctx, "accountants")
		if err != nil {
			t.Fatal(err)
		}
		if err := q.AddMember(f.ctx, g.ID, bob.UserID); err != nil {
			t.Fatal(err)
		}
		if err := q.PutGroupGrant(f.ctx, finance, g.ID, int64(authz.List|authz.Read)); err != nil {
			t.Fatal(err)
		}
		if got := f.get(bob, "/finance/report.csv"); string(got) != "numbers" {
			t.Errorf("bob reads %q", got)
		}
		_, err = f.svc.Create(f.ctx, bob, "/finance/x", strings.NewReader("x"), files.CreateOptions{Size: 1})
		wantKind(t, "Create through a read grant", err, errs.Permission)

		// A direct grant adds to the group's.
		f.grant(finance, bob, authz.Write)
		_, err = f.svc.Create(f.ctx, bob, "/finance/x", strings.NewReader("x"), files.CreateOptions{Size: 1})
		wantKind(t, "Create with group read and user write", err, errs.Other)
		if err := q.DeleteUserGrant(f.ctx, finance, bob.UserID); err != nil {
			t.Fatal(err)
		}

		if err := q.RemoveMember(f.ctx, g.ID, bob.UserID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Open(f.ctx, bob, "/finance/report.csv"); !errs.Is(errs.NotFound, err) {
			t.Errorf("Open after leaving the group = %v, want NotFound", err)
		}
		page, _, err := f.svc.List(f.ctx, bob, "/", "", 100)
		if err != nil || len(page) != 0 {
			t.Errorf("bob's root after leaving the group: %q, %v", names(page), err)
		}
	})
}

func TestDisabledUser(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		bob := f.user("bob", 0)
		f.put(bob, "/a", []byte("a"))
		f.mkdir(bob, "/d")
		r, err := f.svc.Open(f.ctx, bob, "/a") // opened before the account is disabled
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := f.db.Q().SetDisabled(f.ctx, bob.UserID, true); err != nil {
			t.Fatal(err)
		}
		ops := map[string]func() error{
			"stat":   func() error { _, err := f.svc.Stat(f.ctx, bob, "/a"); return err },
			"stat /": func() error { _, err := f.svc.Stat(f.ctx, bob, "/"); return err },
			"open":   func() error { _, err := f.svc.Open(f.ctx, bob, "/a"); return err },
			"list":   func() error { _, _, err := f.svc.List(f.ctx, bob, "/", "", 10); return err },
			"create": func() error {
				_, err := f.svc.Create(f.ctx, bob, "/b", untouchable{t}, files.CreateOptions{Size: 1})
				return err
			},
			"mkdir":        func() error { _, err := f.svc.Mkdir(f.ctx, bob, "/e", false); return err },
			"mkdir -p":     func() error { _, err := f.svc.Mkdir(f.ctx, bob, "/d", true); return err },
			"rename":       func() error { return f.svc.Rename(f.ctx, bob, "/a", "/c", false) },
			"delete":       func() error { return f.svc.Delete(f.ctx, bob, "/a", false) },
			"set modified": func() error { return f.svc.SetModified(f.ctx, bob, "/a", time.Now()) },
			"usage":        func() error { _, _, err := f.svc.Usage(f.ctx, bob); return err },
		}
		for name, do := range ops {
			wantKind(t, name, do(), errs.Unauthenticated)
		}
		// Deleting the account is as final.
		ghost := auth.Principal{UserID: bob.UserID + 1000, Name: "ghost", Protocol: audit.HTTPS}
		_, err = f.svc.Stat(f.ctx, ghost, "/")
		wantKind(t, "Stat by a user that does not exist", err, errs.Unauthenticated)

		if err := f.db.Q().SetDisabled(f.ctx, bob.UserID, false); err != nil {
			t.Fatal(err)
		}
		if got := f.get(bob, "/a"); string(got) != "a" {
			t.Errorf("after enabling again: %q", got)
		}
		uploads := f.records(audit.ActFileUpload)
		if len(uploads) != 2 || uploads[1].Path != "/b" || uploads[1].Result != audit.Denied {
			t.Errorf("upload records %+v; want the refused upload of /b last, denied", uploads)
		}
	})
}

// TestNamesDoNotLeak: an error about a folder the caller cannot list says nothing that
// the same request on a folder that does not exist would not say.
func TestNamesDoNotLeak(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		mallory := f.user("mallory", 0)
		drop := f.folder("drop", 0)
		f.grant(drop, alice, allPerms)
		f.grant(drop, mallory, authz.Write)
		f.put(alice, "/drop/exists.txt", []byte("x"))
		for _, path := range []string{"/drop/exists.txt", "/drop/missing.txt"} {
			_, err := f.svc.Stat(f.ctx, mallory, path)
			msg := strings.ReplaceAll(fmt.Sprint(err), path, "PATH")
			if want := "files.Stat: PATH: not found: no such file or directory"; msg != want {
				t.Errorf("Stat %s: %q, want %q", path, msg, want)
			}
		}
	})
}

// meanwhile is an upload's body that runs change once its bytes are read, before it
// ends: what an administrator does while a long upload is under way.
type meanwhile struct {
	data   []byte
	change func()
}

func (m *meanwhile) Read(p []byte) (int, error) {
	if len(m.data) > 0 {
		n := copy(p, m.data)
		m.data = m.data[n:]
		return n, nil
	}
	if m.change != nil {
		m.change()
		m.change = nil
	}
	return 0, io.EOF
}

// An upload checks its account and its right to write again when it publishes: one
// that outlasts the account, or the grant it started with, publishes nothing, stores
// nothing, and is audited as denied.
func TestUploadRevokedMeanwhile(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		q := f.db.Q()
		results := f.folder("results", 0)
		cases := []struct {
			name   string
			grant  authz.Perm // before the upload; every user has all permissions in their home
			path   string
			change func(p auth.Principal)
			want   errs.Kind
		}{
			{"account disabled", 0, "/late.csv", func(p auth.Principal) {
				if err := q.SetDisabled(f.ctx, p.UserID, true); err != nil {
					t.Error(err)
				}
			}, errs.Unauthenticated},
			{"write revoked", allPerms, "/results/late.csv", func(p auth.Principal) {
				f.grant(results, p, authz.List|authz.Read)
			}, errs.Permission},
			{"grant removed", allPerms, "/results/late.csv", func(p auth.Principal) {
				if err := q.DeleteUserGrant(f.ctx, results, p.UserID); err != nil {
					t.Error(err)
				}
			}, errs.Permission},
		}
		for i, c := range cases {
			p := f.user(fmt.Sprintf("user%d", i), 0)
			if c.grant != 0 {
				f.grant(results, p, c.grant)
			}
			body := &meanwhile{data: randomBytes(100 << 10), change: func() { c.change(p) }}
			_, err := f.svc.Create(f.ctx, p, c.path, body, files.CreateOptions{Size: -1})
			wantKind(t, c.name, err, c.want)
			if rec := f.lastRecord(audit.ActFileUpload, c.path); rec.Actor != p.Name || rec.Result != audit.Denied {
				t.Errorf("%s: the last upload record is %s's, %q; want %s's, denied", c.name, rec.Actor, rec.Result, p.Name)
			}
		}
		// Nothing was published: the first user, enabled again, and a member of the
		// folder find no file, and no blob is left.
		first, err := q.UserByName(f.ctx, "user0")
		if err != nil || q.SetDisabled(f.ctx, first.ID, false) != nil {
			t.Fatal(err)
		}
		f.absent(auth.Principal{UserID: first.ID, Name: first.Name}, "/late.csv")
		member := f.user("member", 0)
		f.grant(results, member, allPerms)
		f.absent(member, "/results/late.csv")
		f.clean(0)
	})
}
