package web_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// TestWholeServer signs in to the real server's web interface and uses the REST API with
// the session cookie, as the page's scripts do.
func TestWholeServer(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	e.User(t, "tech", 0)
	c := &http.Client{Transport: e.Client.Transport, Jar: &cookieJar{cookies: map[string]*http.Cookie{}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("/: %d, headers %v", resp.StatusCode, resp.Header)
	}
	resp, err = c.PostForm(e.URL+"/login", url.Values{"user": {"tech"}, "password": {"password-of-tech"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %v %v", resp.StatusCode, err)
	}
	resp, _ = c.Get(e.URL + "/api/v1/me")
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, `"tech"`) {
		t.Fatalf("/api/v1/me with the cookie: %d %s", resp.StatusCode, page)
	}
	// A state-changing API call from another site is refused, the same from the page works.
	req, _ := http.NewRequest("POST", e.URL+"/api/v1/dirs/inbox", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, _ = c.Do(req)
	if page := body(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST with the cookie: %d %s", resp.StatusCode, page)
	}
	req, _ = http.NewRequest("POST", e.URL+"/api/v1/dirs/inbox", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, _ = c.Do(req)
	if page := body(t, resp); resp.StatusCode != http.StatusCreated {
		t.Fatalf("same-origin POST with the cookie: %d %s", resp.StatusCode, page)
	}
	// Signed out, the cookie is worth nothing.
	old := c.Jar.Cookies(nil)
	c.PostForm(e.URL+"/logout", nil)
	req, _ = http.NewRequest("GET", e.URL+"/api/v1/me", nil)
	for _, ck := range old {
		req.AddCookie(ck)
	}
	resp, _ = (&http.Client{Transport: e.Client.Transport}).Do(req)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/api/v1/me with a signed-out cookie: %d", resp.StatusCode)
	}
}

// TestAdminPages: an administrator creates a user, who then signs in; the audit log page
// shows it; a plain user is refused the administration pages.
func TestAdminPages(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	if _, _, err := e.Core.Accounts.CreateUser(t.Context(), accounts.LocalAdmin("test"), accounts.NewUser{Name: "boss", Password: "password-of-boss", Admin: true}); err != nil {
		t.Fatal(err)
	}
	newClient := func() *http.Client {
		return &http.Client{Transport: e.Client.Transport, Jar: &cookieJar{cookies: map[string]*http.Cookie{}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	signIn := func(c *http.Client, user, pw string) {
		t.Helper()
		resp, err := c.PostForm(e.URL+"/login", url.Values{"user": {user}, "password": {pw}})
		if err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in as %s: %v %v", user, resp.StatusCode, err)
		}
	}
	admin := newClient()
	signIn(admin, "boss", "password-of-boss")
	resp, _ := admin.PostForm(e.URL+"/admin/users", url.Values{"name": {"<b>newbie</b>"}, "quota_gb": {"1.5"}})
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "alert error") {
		t.Fatalf("a user name with markup: %d %s", resp.StatusCode, page)
	}
	resp, _ = admin.PostForm(e.URL+"/admin/users", url.Values{"name": {"newbie"}, "quota_gb": {"1.5"}})
	page := body(t, resp)
	m := regexp.MustCompile(`shown only now: <span class="mono">([^<]+)</span>`).FindStringSubmatch(page)
	if resp.StatusCode != http.StatusCreated || m == nil || !strings.Contains(page, "1.5 GB") {
		t.Fatalf("create user: %d %s", resp.StatusCode, page)
	}
	newbie := newClient()
	signIn(newbie, "newbie", html.UnescapeString(m[1]))
	resp, _ = newbie.Get(e.URL + "/admin/users")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a plain user on the admin page: %d", resp.StatusCode)
	}
	resp, _ = newbie.PostForm(e.URL+"/admin/users", url.Values{"name": {"sneaky"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a plain user creating a user: %d", resp.StatusCode)
	}
	// Disable the new user: their session stops; enable again.
	resp, _ = admin.PostForm(e.URL+"/admin/users/state", url.Values{"name": {"newbie"}, "disabled": {"on"}})
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "newbie is disabled") {
		t.Fatalf("disable: %d %s", resp.StatusCode, page)
	}
	if resp, _ := newbie.Get(e.URL + "/files/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a disabled user's session still works: %d", resp.StatusCode)
	}
	resp, _ = admin.PostForm(e.URL+"/admin/users/state", url.Values{"name": {"newbie"}, "disabled": {"off"}})
	if page := body(t, resp); !strings.Contains(page, "newbie is enabled again") {
		t.Fatalf("enable: %s", page)
	}
	resp, _ = admin.PostForm(e.URL+"/admin/users/state", url.Values{"name": {"nobody"}, "disabled": {"on"}})
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("disabling a user who does not exist: %d", resp.StatusCode)
	}
	resp, _ = admin.PostForm(e.URL+"/admin/users/reset-2fa", url.Values{"name": {"newbie"}})
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "is reset") {
		t.Fatalf("reset 2FA: %d %s", resp.StatusCode, page)
	}
	resp, _ = admin.Get(e.URL + "/admin/audit?action=user.create")
	page = body(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "newbie") || !strings.Contains(page, "<strong>intact</strong>") {
		t.Fatalf("audit page: %d %s", resp.StatusCode, page)
	}
}

// TestShareFolder: an administrator creates a shared folder and gives a colleague access;
// the colleague finds it in their file browser. The whole "share a folder" path.
func TestShareFolder(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	if _, _, err := e.Core.Accounts.CreateUser(t.Context(), accounts.LocalAdmin("test"), accounts.NewUser{Name: "boss", Password: "password-of-boss", Admin: true}); err != nil {
		t.Fatal(err)
	}
	e.User(t, "colleague", 0)
	admin := &http.Client{Transport: e.Client.Transport, Jar: &cookieJar{cookies: map[string]*http.Cookie{}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := admin.PostForm(e.URL+"/login", url.Values{"user": {"boss"}, "password": {"password-of-boss"}}); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %v", err)
	}
	resp, _ := admin.PostForm(e.URL+"/admin/folders", url.Values{"name": {"Lab results"}, "quota_gb": {"10"}})
	if page := body(t, resp); resp.StatusCode != http.StatusCreated || !strings.Contains(page, "Folder Lab results created") {
		t.Fatalf("create folder: %d %s", resp.StatusCode, page)
	}
	resp, _ = admin.PostForm(e.URL+"/admin/grants", url.Values{"folder": {"Lab results"}, "user": {"colleague"}, "perm": {"list", "read", "write"}})
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "colleague: list,read,write") {
		t.Fatalf("grant: %d %s", resp.StatusCode, page)
	}
	resp, _ = admin.PostForm(e.URL+"/admin/grants", url.Values{"folder": {"Lab results"}, "user": {"colleague"}, "group": {"lab"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("grant to a user and a group at once: %d", resp.StatusCode)
	}
	colleague := &http.Client{Transport: e.Client.Transport, Jar: &cookieJar{cookies: map[string]*http.Cookie{}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := colleague.PostForm(e.URL+"/login", url.Values{"user": {"colleague"}, "password": {"password-of-colleague"}}); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("colleague sign in: %v", err)
	}
	resp, _ = colleague.Get(e.URL + "/files/")
	if page := body(t, resp); !strings.Contains(page, `href="/files/Lab%20results/"`) || !strings.Contains(page, "(shared folder)") {
		t.Fatalf("the colleague's files page lacks the shared folder: %s", page)
	}
	resp, _ = admin.Get(e.URL + "/admin/audit?action=grant.set")
	if page := body(t, resp); !strings.Contains(page, "grant.set") {
		t.Fatalf("the grant is not in the audit log page: %s", page)
	}
}

// TestAccountSelfService: tokens, SSH keys and sessions from the account page.
func TestAccountSelfService(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	e.User(t, "pat", 0)
	newClient := func() *http.Client {
		return &http.Client{Transport: e.Client.Transport, Jar: &cookieJar{cookies: map[string]*http.Cookie{}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	c, other := newClient(), newClient()
	for _, cl := range []*http.Client{c, other} {
		if resp, err := cl.PostForm(e.URL+"/login", url.Values{"user": {"pat"}, "password": {"password-of-pat"}}); err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in: %v", err)
		}
	}
	// A token: shown once, works, then revoked.
	resp, _ := c.PostForm(e.URL+"/account/tokens", url.Values{"name": {"nightly export"}, "days": {"30"}})
	page := body(t, resp)
	m := regexp.MustCompile(`<span class="mono">(coffer_[A-Za-z0-9_]+)</span>`).FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("create token: %d %s", resp.StatusCode, page)
	}
	r, b := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/me", Token: m[1]})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("the new token: %d %s", r.StatusCode, b)
	}
	id := regexp.MustCompile(`<td>nightly export</td>.*?name="id" value="([^"]+)"><button type="submit" class="link danger">Revoke`).FindStringSubmatch(page)
	if id == nil {
		t.Fatalf("no revoke button: %s", page)
	}
	resp, _ = c.PostForm(e.URL+"/account/tokens/revoke", url.Values{"id": {id[1]}})
	if page := body(t, resp); !strings.Contains(page, "The token is revoked") {
		t.Fatalf("revoke: %s", page)
	}
	if r, _ := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/me", Token: m[1]}); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a revoked token: %d", r.StatusCode)
	}
	// An SSH key, and a hostile one.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " pat@laptop"
	resp, _ = c.PostForm(e.URL+"/account/keys", url.Values{"key": {line}})
	if page := html.UnescapeString(body(t, resp)); !strings.Contains(page, ssh.FingerprintSHA256(signer.PublicKey())) || !strings.Contains(page, "pat@laptop") {
		t.Fatalf("add key: %s", page)
	}
	resp, _ = c.PostForm(e.URL+"/account/keys", url.Values{"key": {`command="rm -rf /" ` + line}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a key with options: %d", resp.StatusCode)
	}
	// Sessions: two; end the other browser's.
	resp, _ = c.Get(e.URL + "/account")
	page = body(t, resp)
	ids := regexp.MustCompile(`action="/account/sessions/end"><input type="hidden" name="id" value="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(ids) != 1 || !strings.Contains(page, "this browser") {
		t.Fatalf("sessions on the account page: %s", page)
	}
	resp, _ = c.PostForm(e.URL+"/account/sessions/end", url.Values{"id": {ids[0][1]}})
	if page := body(t, resp); !strings.Contains(page, "That session is signed out") {
		t.Fatalf("end session: %s", page)
	}
	if resp, _ := other.Get(e.URL + "/files/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the ended session still works: %d", resp.StatusCode)
	}
}

// TestChangePassword: the current password is required; afterwards every session of the
// user is gone and only the new password signs in.
func TestChangePassword(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	e.User(t, "kim", 0)
	c := &http.Client{Transport: e.Client.Transport, Jar: &cookieJar{cookies: map[string]*http.Cookie{}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := c.PostForm(e.URL+"/login", url.Values{"user": {"kim"}, "password": {"password-of-kim"}}); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %v", err)
	}
	newPw := "correct horse battery staple"
	resp, _ := c.PostForm(e.URL+"/account/password", url.Values{"current": {"wrong"}, "new": {newPw}, "confirm": {newPw}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong current password: %d", resp.StatusCode)
	}
	resp, _ = c.PostForm(e.URL+"/account/password", url.Values{"current": {"password-of-kim"}, "new": {newPw}, "confirm": {newPw + "x"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("different new passwords: %d", resp.StatusCode)
	}
	resp, _ = c.PostForm(e.URL+"/account/password", url.Values{"current": {"password-of-kim"}, "new": {newPw}, "confirm": {newPw}})
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Your password is changed") {
		t.Fatalf("change: %d %s", resp.StatusCode, page)
	}
	if resp, _ := c.Get(e.URL + "/files/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the session survived the password change: %d", resp.StatusCode)
	}
	if resp, _ := c.PostForm(e.URL+"/login", url.Values{"user": {"kim"}, "password": {"password-of-kim"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old password still signs in: %d", resp.StatusCode)
	}
	if resp, _ := c.PostForm(e.URL+"/login", url.Values{"user": {"kim"}, "password": {newPw}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the new password does not sign in: %d", resp.StatusCode)
	}
}
