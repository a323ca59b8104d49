package authzmatrix_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// The oracle: what each operation needs, written from docs/architecture.md ("The user's
// tree") and not from the code. Stat needs list or read; moving a file out of a folder
// needs read and delete there (and write where it lands: the subject's own home).
const (
	opList    = "list"
	opStat    = "stat"
	opRead    = "read"
	opCreate  = "create"
	opReplace = "replace"
	opMkdir   = "mkdir"
	opRename  = "rename within"
	opMoveOut = "move out"
	opDelete  = "delete"
	opAdmin   = "list users (administration)"
	opForeign = "continue another's upload"
)

func allowed(proto, op string, s subject) bool {
	if s.dead() {
		return false
	}
	p := s.perm
	if p == 0 && op != opAdmin && op != opForeign {
		// Without a grant there is no mount /m-NAME: the path names a directory of the
		// subject's own home, which does not exist. An upload over HTTP creates it (in
		// their home, never in the folder; SFTP makes no parent directories); nothing else
		// finds anything.
		return (op == opCreate || op == opReplace) && proto != "sftp"
	}
	switch op {
	case opList:
		return p.Has(authz.List)
	case opStat:
		return p.Has(authz.List) || p.Has(authz.Read)
	case opRead:
		return p.Has(authz.Read)
	case opCreate, opReplace, opMkdir, opRename:
		return p.Has(authz.Write)
	case opMoveOut:
		return p.Has(authz.Read | authz.Delete)
	case opDelete:
		if proto == "sftp" {
			// SFTP has separate remove (files) and rmdir (directories): the adapter looks
			// the name up first, which needs list or read. Stricter than the model, never
			// looser.
			return p.Has(authz.Delete) && (p.Has(authz.List) || p.Has(authz.Read))
		}
		return p.Has(authz.Delete)
	case opAdmin:
		return s.admin
	case opForeign:
		return false // only the creator of an upload may touch it
	}
	panic("unknown operation " + op)
}

// subject is one kind of caller. Each has a shared folder of its own, m-NAME, with the
// grant perm (none for "other", all for the disabled and expired ones: their credentials,
// not their grants, must stop them).
type subject struct {
	name     string
	perm     authz.Perm
	admin    bool
	disabled bool // the account is disabled after its credentials were issued
	expired  bool // the token and web session have expired (SFTP: not applicable)
	anon     bool // no credentials at all

	token, cookie string
}

func (s subject) dead() bool { return s.disabled || s.expired || s.anon }
func (s subject) folder() string {
	return "m-" + s.name
}

func subjects() []subject {
	out := []subject{{name: "full", perm: authz.All}, {name: "other"}, {name: "administrator", admin: true}}
	for _, p := range []authz.Perm{authz.List, authz.Read, authz.Write, authz.Delete} {
		out = append(out,
			subject{name: "only-" + p.String(), perm: p},
			subject{name: "all-but-" + p.String(), perm: authz.All &^ p})
	}
	return append(out,
		subject{name: "disabled", perm: authz.All, disabled: true},
		subject{name: "expired", perm: authz.All, expired: true},
		subject{name: "anonymous", anon: true})
}

// world is the server and its fixtures.
type world struct {
	*testenv.Env
	t      *testing.T
	ctx    context.Context
	keeper auth.Principal // granted everything on every m- folder: sets up and inspects
	clock  atomic.Int64   // offset of the server's clock, in nanoseconds
}

func password(name string) string { return "password-of-" + name }

// content is what m-NAME/report.csv holds: a marker that must never reach a subject
// without read permission on it, in any response.
func content(folder string) []byte { return []byte("SECRET-OF-" + folder + "\n") }

func newWorld(t *testing.T, subs []subject) (*world, []subject) {
	e := testenv.New(t, testenv.Options{SFTP: true})
	w := &world{Env: e, t: t, ctx: context.Background()}
	// A refused web page sends the browser to sign in: see that, do not follow it.
	w.Client = &http.Client{Transport: e.Client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	w.Core.Auth.SetClock(func() time.Time { return time.Now().Add(time.Duration(w.clock.Load())) })
	root := accounts.LocalAdmin("test")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := e.Core.Accounts.CreateUser(w.ctx, root, accounts.NewUser{Name: "keeper", Password: password("keeper")})
	must(err)
	w.keeper = w.principal("keeper")
	for i := range subs {
		s := &subs[i]
		must(errOf(e.Core.Accounts.CreateFolder(w.ctx, root, s.folder(), 0)))
		must(e.Core.Accounts.Grant(w.ctx, root, s.folder(), accounts.Grantee{User: "keeper"}, authz.All))
		w.reset(s.folder(), nil)
		if s.anon {
			continue
		}
		_, _, err := e.Core.Accounts.CreateUser(w.ctx, root, accounts.NewUser{Name: s.name, Password: password(s.name), Admin: s.admin})
		must(err)
		if s.perm != 0 {
			must(e.Core.Accounts.Grant(w.ctx, root, s.folder(), accounts.Grantee{User: s.name}, s.perm))
		}
		if s.expired {
			w.clock.Store(int64(-48 * time.Hour)) // issued two days ago, for one hour
			s.token, _, err = e.Core.Accounts.CreateToken(w.ctx, root, s.name, "old", time.Hour)
			must(err)
			s.cookie = w.signIn(s.name)
			w.clock.Store(0)
		} else {
			s.token = e.Token(t, s.name)
			s.cookie = w.signIn(s.name)
		}
		if s.disabled {
			yes := true
			must(errOf(e.Core.Accounts.UpdateUser(w.ctx, root, s.name, accounts.UserUpdate{Disabled: &yes})))
		}
	}
	return w, subs
}

func errOf[T any](_ T, err error) error { return err }

func (w *world) principal(name string) auth.Principal {
	u, err := w.Core.DB.Q().UserByName(w.ctx, name)
	if err != nil {
		w.t.Fatal(err)
	}
	return auth.Principal{UserID: u.ID, Name: u.Name, Protocol: audit.CLI, SourceIP: "local"}
}

func (w *world) signIn(name string) string {
	secret, _, err := w.Core.Web.SignIn(w.ctx, name, password(name), auth.Client{IP: "127.0.0.1", Protocol: audit.HTTPS})
	if err != nil {
		w.t.Fatal(err)
	}
	return secret
}

// reset puts m-folder back as every operation expects to find it: report.csv with its
// content, an empty directory q1, and nothing else. got says what is there now (as
// effect saw it; nil: unknown), so that only what changed is written.
func (w *world) reset(folder string, got map[string]bool) {
	t, fs, k, dir := w.t, w.Core.Files, w.keeper, "/"+folder
	t.Helper()
	if got == nil {
		got = map[string]bool{"new": true, "q2": true, "renamed": true}
		if _, err := fs.Mkdir(w.ctx, k, dir+"/q1", true); err != nil {
			t.Fatal(err)
		}
	}
	if !got["report"] {
		if _, err := fs.Create(w.ctx, k, dir+"/report.csv", bytes.NewReader(content(folder)), files.CreateOptions{Size: int64(len(content(folder)))}); err != nil {
			t.Fatal(err)
		}
	}
	for key, p := range map[string]string{"new": "/new.csv", "q2": "/q2", "renamed": "/q1/report.csv"} {
		if !got[key] {
			continue
		}
		if err := fs.Delete(w.ctx, k, dir+p, true); err != nil && !errs.Is(errs.NotFound, err) {
			t.Fatal(err)
		}
	}
}

// holds reports whether the file at path (read as the keeper) has exactly want.
func (w *world) holds(path string, want []byte) bool {
	r, err := w.Core.Files.Open(w.ctx, w.keeper, path)
	if err != nil {
		return false
	}
	defer r.Close()
	got, err := io.ReadAll(r.Seeker())
	return err == nil && bytes.Equal(got, want)
}

func (w *world) exists(p auth.Principal, path string) bool {
	_, err := w.Core.Files.Stat(w.ctx, p, path)
	return err == nil
}

// effect checks the state of s's folder after op: changed as op would change it when it
// was allowed, untouched when it was refused.
func (w *world) effect(s subject, op string, done bool) {
	t, dir := w.t, "/"+s.folder()
	t.Helper()
	report, orig := dir+"/report.csv", content(s.folder())
	has := func(path string) bool { return w.exists(w.keeper, path) }
	if s.perm == 0 && !s.dead() {
		// What an ungranted subject did happened in their own home (see allowed).
		home := w.principal(s.name)
		if done != w.exists(home, dir) {
			t.Errorf("%s by %s (allowed=%v): their home has %s: %v", op, s.name, done, dir, !done)
		}
		if err := w.Core.Files.Delete(w.ctx, home, dir, true); err != nil && !errs.Is(errs.NotFound, err) {
			t.Fatal(err)
		}
		done = false // and nothing in the shared folder
	}
	stolen := false
	if !s.anon {
		stolen = w.exists(w.principal(s.name), "/stolen.csv")
		if stolen && !s.dead() {
			if err := w.Core.Files.Delete(w.ctx, w.principal(s.name), "/stolen.csv", false); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]bool{"report": true, "new": false, "q2": false, "renamed": false, "stolen": false}
	if done {
		switch op {
		case opCreate:
			want["new"] = true
		case opReplace:
			want["report"] = false // replaced: its content changed
		case opMkdir:
			want["q2"] = true
		case opRename:
			want["report"], want["renamed"] = false, true
		case opMoveOut:
			want["report"], want["stolen"] = false, true
		case opDelete:
			want["report"] = false
		}
	}
	got := map[string]bool{"report": w.holds(report, orig), "new": has(dir + "/new.csv"), "q2": has(dir + "/q2"),
		"renamed": has(dir + "/q1/report.csv"), "stolen": stolen}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s by %s (allowed=%v): %s is %v, want %v", op, s.name, done, k, got[k], v)
		}
	}
	w.reset(s.folder(), got)
}

// verdict reads an HTTP answer: 2xx is allowed, 401, 403, 404 and 409 (for uploads that
// are not the caller's) are refused; anything else means the test or the server is wrong.
func verdict(t *testing.T, what string, resp *http.Response, body []byte) bool {
	t.Helper()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return true
	case code == 401 || code == 403 || code == 404:
		return false
	case code == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login"):
		return false // the web interface asks to sign in
	}
	t.Errorf("%s: unexpected status %d: %.300s", what, resp.StatusCode, body)
	return false
}

// httpOp performs op over the REST API (cookie == "") or with the web session cookie.
func (w *world) httpOp(s subject, op string, web bool) (bool, []byte) {
	dir := "/api/v1/files/" + s.folder()
	type req struct {
		method, path string
		body         string
		json         any
	}
	var r req
	switch op {
	case opList:
		if web {
			r = req{method: "GET", path: "/files/" + s.folder() + "/"}
		} else {
			r = req{method: "GET", path: "/api/v1/dirs/" + s.folder()}
		}
	case opStat:
		r = req{method: "HEAD", path: dir + "/report.csv"}
	case opRead:
		r = req{method: "GET", path: dir + "/report.csv"}
	case opCreate:
		r = req{method: "PUT", path: dir + "/new.csv", body: "new"}
	case opReplace:
		r = req{method: "PUT", path: dir + "/report.csv", body: "replaced"}
	case opMkdir:
		r = req{method: "POST", path: "/api/v1/dirs/" + s.folder() + "/q2"}
	case opRename:
		r = req{method: "POST", path: "/api/v1/move", json: map[string]string{"from": "/" + s.folder() + "/report.csv", "to": "/" + s.folder() + "/q1/report.csv"}}
	case opMoveOut:
		r = req{method: "POST", path: "/api/v1/move", json: map[string]string{"from": "/" + s.folder() + "/report.csv", "to": "/stolen.csv"}}
	case opDelete:
		r = req{method: "DELETE", path: dir + "/report.csv"}
	case opAdmin:
		if web {
			r = req{method: "GET", path: "/admin/users"}
		} else {
			r = req{method: "GET", path: "/api/v1/admin/users"}
		}
	}
	h := http.Header{}
	q := testenv.Request{Method: r.method, Path: r.path, Header: h, JSON: r.json}
	if r.body != "" {
		q.Body = strings.NewReader(r.body)
	}
	if web {
		if s.cookie != "" {
			h.Set("Cookie", "__Host-coffer="+s.cookie)
		}
	} else {
		q.Token = s.token
	}
	resp, body := w.Do(w.t, q)
	w.unlock()
	ok := verdict(w.t, op+" by "+s.name, resp, body)
	if web && ok && resp.StatusCode == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") && op == opList {
		// The page lists the folder: it must name the file.
		if !bytes.Contains(body, []byte("report.csv")) {
			w.t.Errorf("web list by %s: the page does not list report.csv", s.name)
		}
	}
	if web && !s.dead() && resp.StatusCode == http.StatusSeeOther {
		w.t.Errorf("web %s by %s: sent to sign in", op, s.name)
	}
	return ok, body
}

// unlock lifts the lockout of the test's address, and resets its score in the defender:
// the refused subjects' failures would otherwise block every later request from
// 127.0.0.1 (twenty failures in 15 minutes; a ban at 50 points).
func (w *world) unlock() {
	if err := w.Core.Auth.Unlock(w.ctx, "ip", "127.0.0.1"); err != nil && !errs.Is(errs.NotFound, err) {
		w.t.Fatal(err)
	}
	if err := w.Core.Defender.Lift(w.ctx, "test", "local", "cli", "127.0.0.1"); err != nil && !errs.Is(errs.NotFound, err) {
		w.t.Fatal(err)
	}
}

// tusCreate uploads new.csv into s's folder in two tus requests.
func (w *world) tusCreate(s subject) bool {
	meta := "path " + base64.StdEncoding.EncodeToString([]byte("/"+s.folder()+"/new.csv"))
	h := http.Header{"Tus-Resumable": {"1.0.0"}, "Upload-Length": {"3"}, "Upload-Metadata": {meta}}
	resp, body := w.Do(w.t, testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: s.token, Header: h})
	w.unlock()
	if !verdict(w.t, "tus create by "+s.name, resp, body) {
		return false
	}
	loc := resp.Header.Get("Location")
	h = http.Header{"Tus-Resumable": {"1.0.0"}, "Upload-Offset": {"0"}, "Content-Type": {"application/offset+octet-stream"}}
	resp, body = w.Do(w.t, testenv.Request{Method: "PATCH", Path: loc, Token: s.token, Header: h, Body: strings.NewReader("new")})
	if resp.StatusCode != http.StatusNoContent {
		w.t.Errorf("tus PATCH by %s after an allowed create: %d %s", s.name, resp.StatusCode, body)
	}
	return true
}

// tusForeign tries HEAD, PATCH and DELETE on an upload that the keeper started in s's
// folder; none may work for anyone but the keeper, and the upload must stay intact.
func (w *world) tusForeign(s subject, web bool) bool {
	id := w.keeperUpload(s.folder())
	any := false
	for _, m := range []string{"HEAD", "PATCH", "DELETE"} {
		h := http.Header{"Tus-Resumable": {"1.0.0"}, "Upload-Offset": {"0"}, "Content-Type": {"application/offset+octet-stream"}}
		q := testenv.Request{Method: m, Path: "/api/v1/uploads/" + id, Header: h}
		if m == "PATCH" {
			q.Body = strings.NewReader("evil!")
		}
		if web {
			if s.cookie != "" {
				h.Set("Cookie", "__Host-coffer="+s.cookie)
			}
		} else {
			q.Token = s.token
		}
		resp, body := w.Do(w.t, q)
		w.unlock()
		if verdict(w.t, "tus "+m+" of another's upload by "+s.name, resp, body) {
			any = true
		}
	}
	part, err := w.Core.Files.PartialByID(w.ctx, w.keeper, id)
	if err != nil || part.Size != 2 {
		w.t.Errorf("the keeper's upload after %s's attempts: %+v, %v", s.name, part, err)
	}
	if err := w.Core.Files.DiscardUpload(w.ctx, w.keeper, id); err != nil {
		w.t.Fatal(err)
	}
	return any
}

// keeperUpload starts an upload of 5 bytes by the keeper with 2 bytes sent.
func (w *world) keeperUpload(folder string) string {
	part, err := w.Core.Files.StartUpload(w.ctx, w.keeper, "/"+folder+"/pending.csv", files.StartOptions{Length: 5})
	if err != nil {
		w.t.Fatal(err)
	}
	if _, _, err := w.Core.Files.Append(w.ctx, w.keeper, part.ID, 0, strings.NewReader("ab")); err != nil {
		w.t.Fatal(err)
	}
	return part.ID
}

// sftpLogin signs s in over SFTP with their password; nil when the server refuses.
func (w *world) sftpLogin(s subject) *sftp.Client {
	nc, err := net.DialTimeout("tcp", w.SFTPAddr, 5*time.Second)
	if err != nil {
		w.t.Fatal(err)
	}
	var methods []ssh.AuthMethod
	user := s.name
	if !s.anon {
		methods = append(methods, ssh.Password(password(s.name)))
	} else {
		user = "anonymous"
	}
	cfg := &ssh.ClientConfig{User: user, Auth: methods, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}
	c, chans, reqs, err := ssh.NewClientConn(nc, w.SFTPAddr, cfg)
	w.unlock()
	if err != nil {
		nc.Close()
		return nil
	}
	sc := ssh.NewClient(c, chans, reqs)
	cl, err := sftp.NewClient(sc)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { cl.Close(); sc.Close() })
	return cl
}

// sftpOp performs op over SFTP; refusals must be "permission denied" or "no such file".
func (w *world) sftpOp(c *sftp.Client, s subject, op string) (bool, []byte) {
	dir := "/" + s.folder()
	var data []byte
	var err error
	switch op {
	case opList:
		var fis []os.FileInfo
		if fis, err = c.ReadDir(dir); err == nil {
			found := false
			for _, fi := range fis {
				found = found || fi.Name() == "report.csv"
			}
			if !found {
				w.t.Errorf("sftp list by %s: no report.csv", s.name)
			}
		}
	case opStat:
		_, err = c.Stat(dir + "/report.csv")
	case opRead:
		var f *sftp.File
		if f, err = c.Open(dir + "/report.csv"); err == nil {
			data, err = io.ReadAll(f)
			f.Close()
		}
	case opCreate, opReplace:
		name := map[string]string{opCreate: "/new.csv", opReplace: "/report.csv"}[op]
		var f *sftp.File
		if f, err = c.Create(dir + name); err == nil {
			if _, err = f.Write([]byte("sftp")); err == nil {
				err = f.Close()
			} else {
				f.Close()
			}
		}
	case opMkdir:
		err = c.Mkdir(dir + "/q2")
	case opRename:
		err = c.Rename(dir+"/report.csv", dir+"/q1/report.csv")
	case opMoveOut:
		err = c.Rename(dir+"/report.csv", "/stolen.csv")
	case opDelete:
		err = c.Remove(dir + "/report.csv")
	}
	w.unlock()
	if err == nil {
		return true, data
	}
	var se *sftp.StatusError
	if errors.As(err, &se) && (se.FxCode() == sftp.ErrSSHFxPermissionDenied || se.FxCode() == sftp.ErrSSHFxNoSuchFile) {
		return false, nil
	}
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		return false, nil
	}
	w.t.Errorf("sftp %s by %s: unexpected error %v", op, s.name, err)
	return false, nil
}

var fileOps = []string{opList, opStat, opRead, opCreate, opReplace, opMkdir, opRename, opMoveOut, opDelete}

// TestAuthorisationMatrix: every protocol x every operation x every subject. Each
// operation is allowed exactly when the oracle says; a refused one changes nothing; an
// allowed one does what it says; and no response to anyone without read permission
// carries a byte of the file.
func TestAuthorisationMatrix(t *testing.T) {
	w, subs := newWorld(t, subjects())
	count := 0
	check := func(proto string, s subject, op string, got bool, body []byte) {
		t.Helper()
		count++
		if want := allowed(proto, op, s); got != want {
			t.Errorf("%s: %s by %s: allowed=%v, want %v", proto, op, s.name, got, want)
		}
		w.leak(proto, s, op, body)
	}
	for _, s := range subs {
		for _, proto := range []string{"rest", "web"} {
			for _, op := range append(fileOps, opAdmin) {
				got, body := w.httpOp(s, op, proto == "web")
				check(proto, s, op, got, body)
				if op != opAdmin {
					w.effect(s, op, got)
				}
			}
			got := w.tusForeign(s, proto == "web")
			check(proto+"/tus", s, opForeign, got, nil)
		}
		check("tus", s, opCreate, w.tusCreate(s), nil)
		w.effect(s, opCreate, allowed("tus", opCreate, s))

		if s.expired {
			continue // passwords do not expire; SFTP has no tokens
		}
		c := w.sftpLogin(s)
		if (c != nil) != !s.dead() {
			t.Errorf("sftp: %s signed in: %v", s.name, c != nil)
		}
		for _, op := range fileOps {
			got, body := false, []byte(nil)
			if c != nil {
				got, body = w.sftpOp(c, s, op)
			}
			check("sftp", s, op, got, body)
			w.effect(s, op, got)
		}
	}
	// The owner of a home folder, and everyone else: a name in one's tree is one's own.
	alice := w.User(t, "alice", 0)
	secret := []byte("ALICE-HOME-SECRET")
	if _, err := w.Core.Files.Create(w.ctx, w.principal("alice"), "/diary.txt", bytes.NewReader(secret), files.CreateOptions{Size: int64(len(secret))}); err != nil {
		t.Fatal(err)
	}
	resp, body := w.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/diary.txt", Token: alice})
	if resp.StatusCode != 200 || !bytes.Equal(body, secret) {
		t.Errorf("the owner reads her own file: %d %q", resp.StatusCode, body)
	}
	for _, s := range subs {
		if s.anon {
			continue
		}
		resp, body := w.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/diary.txt", Token: s.token})
		w.unlock()
		if bytes.Contains(body, secret) || resp.StatusCode == 200 {
			t.Errorf("%s read alice's home file: %d", s.name, resp.StatusCode)
		}
	}
	t.Logf("%d protocol x operation x subject cases checked", count)
	if count < 300 {
		t.Errorf("only %d cases ran", count)
	}
}

// leak fails when a response to s carries the content of a file s may not read.
func (w *world) leak(proto string, s subject, op string, body []byte) {
	for _, other := range subjects() {
		marker := content(other.folder())
		if !bytes.Contains(body, bytes.TrimSpace(marker)) {
			continue
		}
		if other.name != s.name || !allowed(proto, opRead, s) {
			w.t.Errorf("%s: %s by %s returned the content of %s", proto, op, s.name, other.folder())
		}
	}
}
