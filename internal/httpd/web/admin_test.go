package web_test

import (
	"bytes"
	"encoding/base32"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// browserClient is a cookie-keeping client of e's server that does not follow redirects.
func browserClient(e *testenv.Env) *http.Client {
	return &http.Client{Transport: e.Client.Transport, Jar: &cookieJar{cookies: map[string]*http.Cookie{}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signedIn returns a client signed in as user; it fails the test unless the password
// sign-in completes.
func signedIn(t *testing.T, e *testenv.Env, user, password string) *http.Client {
	t.Helper()
	c := browserClient(e)
	resp, err := c.PostForm(e.URL+"/login", url.Values{"user": {user}, "password": {password}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %v %v", user, resp, err)
	}
	resp.Body.Close()
	return c
}

// adminEnv is a server with the administrator boss and the user tech, boss signed in.
func adminEnv(t *testing.T) (*testenv.Env, *http.Client) {
	e := testenv.New(t, testenv.Options{})
	if _, _, err := e.Core.Accounts.CreateUser(t.Context(), accounts.LocalAdmin("test"), accounts.NewUser{Name: "boss", Password: "password-of-boss", Admin: true}); err != nil {
		t.Fatal(err)
	}
	e.User(t, "tech", 0)
	return e, signedIn(t, e, "boss", "password-of-boss")
}

// page GETs or POSTs (with form values) and returns the status and body.
func page(t *testing.T, c *http.Client, method, u string, form url.Values) (int, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == "GET" {
		resp, err = c.Get(u)
	} else {
		resp, err = c.PostForm(u, form)
	}
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body(t, resp)
}

func mustContain(t *testing.T, what string, code, want int, got string, parts ...string) {
	t.Helper()
	if code != want {
		t.Fatalf("%s: status %d, want %d\n%s", what, code, want, got)
	}
	for _, p := range parts {
		if !strings.Contains(got, p) {
			t.Fatalf("%s: the page lacks %q\n%s", what, p, got)
		}
	}
}

// enrol sets up TOTP for the signed-in user of c and returns the key. It confirms with
// the code of the previous 30-second step, so that the current step's code is still
// unused for a sign-in right after.
func enrol(t *testing.T, e *testenv.Env, c *http.Client) []byte {
	t.Helper()
	_, got := page(t, c, "POST", e.URL+"/account/2fa/begin", nil)
	m := keyRE.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("no key on the enrolment page: %s", got)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	code, got := page(t, c, "POST", e.URL+"/account/2fa/confirm", url.Values{"code": {auth.TOTPCode(key, time.Now().Add(-30*time.Second))}})
	mustContain(t, "confirm 2FA", code, 200, got, "recovery codes")
	return key
}

// TestDashboard: the figures of today follow what happens.
func TestDashboard(t *testing.T) {
	e, admin := adminEnv(t)
	tech := e.Token(t, "tech")
	e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/files/a.txt", Token: tech, Body: strings.NewReader("12345")})
	e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/a.txt", Token: tech})
	browserClient(e).PostForm(e.URL+"/login", url.Values{"user": {"tech"}, "password": {"wrong"}})
	code, got := page(t, admin, "GET", e.URL+"/admin/", nil)
	mustContain(t, "dashboard", code, 200, got, "Audit chain intact", `<div class="n">1</div><div class="l">uploads · 5 B</div>`,
		`<div class="n">1</div><div class="l">downloads · 5 B</div>`, `<div class="n">1</div><div class="l">failed sign-ins</div>`,
		`<div class="n">1</div><div class="l">signed-in web sessions</div>`, `<div class="n">1</div><div class="l">files</div>`)
	code, _ = page(t, signedIn(t, e, "tech", "password-of-tech"), "GET", e.URL+"/admin/", nil)
	if code != http.StatusForbidden {
		t.Fatalf("a plain user on the dashboard: %d", code)
	}
}

// TestEditUser: quota, role, password login, 2FA requirement, a new password and groups,
// all from the user's page.
func TestEditUser(t *testing.T) {
	e, admin := adminEnv(t)
	techWeb := signedIn(t, e, "tech", "password-of-tech")
	code, got := page(t, admin, "GET", e.URL+"/admin/users/tech", nil)
	mustContain(t, "user page", code, 200, got, `action="/admin/users/tech/settings"`, "Not set up.", "No groups yet.")
	// A generated password: shown once, works; the old one and tech's session do not.
	if resp, _ := techWeb.Get(e.URL + "/files/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("tech's session before the new password: %d", resp.StatusCode)
	}
	code, got = page(t, admin, "POST", e.URL+"/admin/users/tech/password", url.Values{"password": {""}})
	m := regexp.MustCompile(`shown only now: <span class="mono">([^<]+)</span>`).FindStringSubmatch(got)
	if code != 200 || m == nil {
		t.Fatalf("new password: %d %s", code, got)
	}
	if resp, _ := techWeb.Get(e.URL + "/files/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("tech's session survived the new password: %d", resp.StatusCode)
	}
	if resp, _ := browserClient(e).PostForm(e.URL+"/login", url.Values{"user": {"tech"}, "password": {"password-of-tech"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old password still signs in: %d", resp.StatusCode)
	}
	newPW := html.UnescapeString(m[1])
	signedIn(t, e, "tech", newPW)
	code, got = page(t, admin, "POST", e.URL+"/admin/users/tech/password", url.Values{"password": {"short"}})
	mustContain(t, "a weak password", code, 400, got, "alert error")

	code, got = page(t, admin, "POST", e.URL+"/admin/users/tech/settings", url.Values{"quota_gb": {"2.5"}, "password_login": {"on"}, "require_2fa": {"on"}})
	mustContain(t, "save", code, 200, got, "Saved.", `value="2.5"`, `name="require_2fa" value="on" checked`)
	// Required 2FA: tech's next sign-in goes to the set-up first.
	resp, _ := browserClient(e).PostForm(e.URL+"/login", url.Values{"user": {"tech"}, "password": {newPW}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("sign-in with 2FA required but not set up: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	code, got = page(t, admin, "POST", e.URL+"/admin/users/tech/settings", url.Values{"quota_gb": {"-1"}})
	mustContain(t, "negative quota", code, 400, got, "The quota must be a number")
	code, got = page(t, admin, "POST", e.URL+"/admin/users/tech/settings", url.Values{"quota_gb": {"2.5"}, "admin": {"on"}, "password_login": {"on"}, "require_2fa": {"on"}})
	mustContain(t, "make administrator", code, 200, got, `name="admin" value="on" checked`)
	code, got = page(t, admin, "POST", e.URL+"/admin/users/tech/settings", url.Values{"quota_gb": {"2.5"}, "require_2fa": {"on"}})
	mustContain(t, "no password sign-in", code, 200, got, "signs in with SSH keys and API tokens only")
	if resp, _ := browserClient(e).PostForm(e.URL+"/login", url.Values{"user": {"tech"}, "password": {newPW}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sign-in with password login off: %d", resp.StatusCode)
	}
	page(t, admin, "POST", e.URL+"/admin/users/tech/settings", url.Values{"quota_gb": {"2.5"}, "password_login": {"on"}, "require_2fa": {"on"}})
	code, got = page(t, admin, "POST", e.URL+"/admin/users/nobody/settings", url.Values{"quota_gb": {"0"}})
	mustContain(t, "a user who does not exist", code, 404, got, "no user named")

	// Groups: tick two, then untick one.
	for _, g := range []string{"lab", "night-shift"} {
		code, got = page(t, admin, "POST", e.URL+"/admin/groups", url.Values{"name": {g}})
		mustContain(t, "create group", code, 201, got, "Group "+g+" created")
	}
	code, got = page(t, admin, "POST", e.URL+"/admin/users/tech/groups", url.Values{"group": {"lab", "night-shift"}})
	mustContain(t, "join groups", code, 200, got, "Groups saved.", `value="lab" checked`, `value="night-shift" checked`)
	code, got = page(t, admin, "POST", e.URL+"/admin/users/tech/groups", url.Values{"group": {"lab"}})
	mustContain(t, "leave a group", code, 200, got, `value="lab" checked`, `value="night-shift">`)
	code, got = page(t, admin, "GET", e.URL+"/admin/groups", nil)
	mustContain(t, "groups page", code, 200, got, `<a href="/admin/users/tech">tech</a>`, "No members yet.")
}

// TestGroupsPage: create, add and remove members, delete; hostile names are refused or
// shown as text.
func TestGroupsPage(t *testing.T) {
	e, admin := adminEnv(t)
	code, got := page(t, admin, "POST", e.URL+"/admin/groups", url.Values{"name": {"<script>x</script>"}})
	mustContain(t, "a group name with markup", code, 400, got, "invalid group name &#34;&lt;script&gt;")
	page(t, admin, "POST", e.URL+"/admin/groups", url.Values{"name": {"auditors"}})
	code, got = page(t, admin, "POST", e.URL+"/admin/groups", url.Values{"name": {"auditors"}})
	mustContain(t, "a group twice", code, 409, got, "alert error")
	code, got = page(t, admin, "POST", e.URL+"/admin/groups/members", url.Values{"group": {"auditors"}, "user": {"tech"}})
	mustContain(t, "add member", code, 200, got, "tech is now a member of auditors")
	code, got = page(t, admin, "POST", e.URL+"/admin/groups/members", url.Values{"group": {"auditors"}, "user": {"ghost"}})
	mustContain(t, "add a user who does not exist", code, 404, got, "alert error")
	code, got = page(t, admin, "POST", e.URL+"/admin/groups/members", url.Values{"group": {"auditors"}, "user": {"tech"}, "member": {"off"}})
	mustContain(t, "remove member", code, 200, got, "tech is no longer a member of auditors")
	code, got = page(t, admin, "POST", e.URL+"/admin/groups/delete", url.Values{"name": {"auditors"}})
	mustContain(t, "delete group", code, 200, got, "Group auditors deleted", "No groups yet.")
	tech := signedIn(t, e, "tech", "password-of-tech")
	if code, _ := page(t, tech, "POST", e.URL+"/admin/groups", url.Values{"name": {"mine"}}); code != http.StatusForbidden {
		t.Fatalf("a plain user creates a group: %d", code)
	}
}

// TestSessionsPage: an administrator sees everyone's web sessions and ends one.
func TestSessionsPage(t *testing.T) {
	e, admin := adminEnv(t)
	tech := signedIn(t, e, "tech", "password-of-tech")
	code, got := page(t, admin, "GET", e.URL+"/admin/sessions", nil)
	mustContain(t, "sessions page", code, 200, got, `<a href="/admin/users/tech">tech</a>`, `<a href="/admin/users/boss">boss</a>`)
	code, got = page(t, admin, "GET", e.URL+"/admin/users/tech", nil)
	m := regexp.MustCompile(`name="id" value="([^"]+)"><input type="hidden" name="user" value="tech">`).FindStringSubmatch(got)
	if code != 200 || m == nil {
		t.Fatalf("tech's page lacks their session: %d %s", code, got)
	}
	code, got = page(t, admin, "POST", e.URL+"/admin/sessions/end", url.Values{"id": {m[1]}, "user": {"tech"}})
	mustContain(t, "end session", code, 200, got, "The session is ended")
	if resp, _ := tech.Get(e.URL + "/files/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("an ended session still works: %d", resp.StatusCode)
	}
	code, got = page(t, admin, "POST", e.URL+"/admin/sessions/end", url.Values{"id": {"no-such-session"}})
	mustContain(t, "end a session that does not exist", code, 404, got, "alert error")
	code, got = page(t, admin, "GET", e.URL+"/admin/audit?action=session.end", nil)
	mustContain(t, "audit of ending", code, 200, got, "session.end")
}

// TestRequire2FAForAll: the global switch sends everyone without 2FA to the set-up.
func TestRequire2FAForAll(t *testing.T) {
	e, admin := adminEnv(t)
	tech := signedIn(t, e, "tech", "password-of-tech")
	code, got := page(t, admin, "POST", e.URL+"/admin/users/require-2fa", url.Values{"on": {"on"}})
	mustContain(t, "require for all by an administrator without 2FA", code, 409, got, "set up two-step verification for yourself first")
	enrol(t, e, admin)
	code, got = page(t, admin, "POST", e.URL+"/admin/users/require-2fa", url.Values{"on": {"on"}})
	mustContain(t, "require for all", code, 200, got, "now required of everyone", "No longer require it of everyone")
	if resp, _ := tech.Get(e.URL + "/files/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a session without 2FA survived the switch: %d", resp.StatusCode)
	}
	code, got = page(t, admin, "POST", e.URL+"/admin/users/require-2fa", url.Values{"on": {"off"}})
	mustContain(t, "no longer required", code, 200, got, "no longer required of everyone")
}

// TestAuditExport: CSV and JSON lines of what the filter matches, oldest first; cells a
// spreadsheet would run are defused; the export is itself audited; others are refused.
func TestAuditExport(t *testing.T) {
	e, admin := adminEnv(t)
	tech := e.Token(t, "tech")
	// A failed sign-in records the name as typed: the attacker chooses that cell.
	browserClient(e).PostForm(e.URL+"/login", url.Values{"user": {`=HYPERLINK("http://evil/")`}, "password": {"x"}})
	for _, name := range []string{"first.txt", "plain.txt"} {
		if resp, b := e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/files/" + url.PathEscape(name), Token: tech, Body: strings.NewReader("x")}); resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload %s: %d %s", name, resp.StatusCode, b)
		}
	}
	resp, err := admin.Get(e.URL + "/admin/audit/export?format=csv&action=file.upload&actor=tech")
	if err != nil {
		t.Fatal(err)
	}
	b := body(t, resp)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV export: %d %v", resp.StatusCode, resp.Header)
	}
	rows, err := csv.NewReader(strings.NewReader(b)).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "seq" {
		t.Fatalf("CSV export: %v %q", err, b)
	}
	if rows[1][5] != "file.upload" || !strings.HasSuffix(rows[1][6], "first.txt") || !strings.HasSuffix(rows[2][6], "plain.txt") {
		t.Fatalf("CSV rows, oldest first: %q", rows)
	}
	resp, _ = admin.Get(e.URL + "/admin/audit/export?format=csv&action=login")
	if b := body(t, resp); !strings.Contains(b, `'=HYPERLINK(""http://evil/"")`) || strings.Contains(b, `,"=HYPERLINK`) {
		t.Fatalf("a formula cell was not defused: %s", b)
	}
	resp, _ = admin.Get(e.URL + "/admin/audit/export?format=jsonl&path=plain")
	b = body(t, resp)
	var rec struct{ Action, Path, Hash string }
	if lines := strings.Split(strings.TrimSpace(b), "\n"); resp.StatusCode != 200 || len(lines) != 1 || json.NewDecoder(bytes.NewReader([]byte(lines[0]))).Decode(&rec) != nil || rec.Hash == "" || !strings.HasSuffix(rec.Path, "plain.txt") {
		t.Fatalf("JSON lines export: %d %q", resp.StatusCode, b)
	}
	for _, q := range []string{"format=xml", "format=csv&since=yesterday"} {
		if code, _ := page(t, admin, "GET", e.URL+"/admin/audit/export?"+q, nil); code != http.StatusBadRequest {
			t.Fatalf("export?%s: %d", q, code)
		}
	}
	code, got := page(t, admin, "GET", e.URL+"/admin/audit?action=audit.export", nil)
	mustContain(t, "the export is audited", code, 200, got, "audit.export")
	if code, _ := page(t, signedIn(t, e, "tech", "password-of-tech"), "GET", e.URL+"/admin/audit/export?format=csv", nil); code != http.StatusForbidden {
		t.Fatalf("a plain user exports the audit log: %d", code)
	}
}

// TestRecentSignIns: a user sees their own sign-ins and refused attempts, not others'.
func TestRecentSignIns(t *testing.T) {
	e, _ := adminEnv(t)
	browserClient(e).PostForm(e.URL+"/login", url.Values{"user": {"tech"}, "password": {"guess-1"}})
	tech := signedIn(t, e, "tech", "password-of-tech")
	code, got := page(t, tech, "GET", e.URL+"/account", nil)
	mustContain(t, "account page", code, 200, got, "Recent sign-ins", "<td>https (password)</td>", `<strong class="danger">refused</strong>`)
	if strings.Count(got, "<td>signed in</td>") != 1 || strings.Count(got, ">refused<") != 1 {
		t.Fatalf("want exactly tech's two sign-in records (not boss's): %s", got)
	}
}

// TestFilesSorted: the column headings sort the whole folder on the server, across pages.
func TestFilesSorted(t *testing.T) {
	e, _ := adminEnv(t)
	token := e.Token(t, "tech")
	for i, size := range []int{5, 300, 20} {
		name := fmt.Sprintf("/api/v1/files/f%d.txt", i)
		if resp, b := e.Do(t, testenv.Request{Method: "PUT", Path: name, Token: token, Body: strings.NewReader(strings.Repeat("x", size))}); resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload: %d %s", resp.StatusCode, b)
		}
	}
	tech := signedIn(t, e, "tech", "password-of-tech")
	code, got := page(t, tech, "GET", e.URL+"/files/?sort=size&order=desc", nil)
	mustContain(t, "by size", code, 200, got, `aria-sort="descending"><a href="/files/?sort=size">Size ↓</a>`)
	order := regexp.MustCompile(`data-name="(f\d\.txt)"`).FindAllStringSubmatch(got, -1)
	if len(order) != 3 || order[0][1] != "f1.txt" || order[1][1] != "f2.txt" || order[2][1] != "f0.txt" {
		t.Fatalf("size order: %q", order)
	}
	code, got = page(t, tech, "GET", e.URL+"/files/?sort=owner", nil)
	mustContain(t, "unknown sort", code, 400, got, "sort must be name, size or modified")
}

// TestBansPage: an administrator sees the defender's bans and lifts one; others may not.
func TestBansPage(t *testing.T) {
	e, admin := adminEnv(t)
	p := e.Core.Defender.Policy()
	for range p.Threshold / p.Weights[defender.UnknownUser] {
		if err := e.Core.Defender.Record(t.Context(), defender.Event{Kind: defender.UnknownUser, IP: "192.0.2.5", Protocol: "sftp"}); err != nil {
			t.Fatal(err)
		}
	}
	code, got := page(t, admin, "GET", e.URL+"/admin/bans", nil)
	mustContain(t, "bans page", code, 200, got, `<td>192.0.2.5</td>`, `name="ip" value="192.0.2.5"`, "login.unknown")
	tech := signedIn(t, e, "tech", "password-of-tech")
	if code, _ := page(t, tech, "POST", e.URL+"/admin/bans/lift", url.Values{"ip": {"192.0.2.5"}}); code != http.StatusForbidden {
		t.Fatalf("a plain user lifts a ban: %d", code)
	}
	code, got = page(t, admin, "POST", e.URL+"/admin/bans/lift", url.Values{"ip": {"192.0.2.5"}})
	mustContain(t, "lift", code, 200, got, "The ban of 192.0.2.5 is lifted", "No address is banned.")
	code, got = page(t, admin, "POST", e.URL+"/admin/bans/lift", url.Values{"ip": {"192.0.2.5"}})
	mustContain(t, "lift again", code, 404, got, "alert error", "is not banned")
	code, got = page(t, admin, "GET", e.URL+"/admin/audit?action=defender.unban", nil)
	mustContain(t, "audit of the lift", code, 200, got, "defender.unban", "ip:192.0.2.5")
}
