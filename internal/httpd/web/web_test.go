package web_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/httpd/web"
	"github.com/coffer-mft/coffer/internal/testenv"
)

func setup(t *testing.T) (*httptest.Server, *http.Client, *testenv.Env, auth.Principal) {
	t.Helper()
	e := testenv.New(t, testenv.Options{})
	e.User(t, "lab", 0)
	u, err := e.Core.DB.Q().UserByName(context.Background(), "lab")
	if err != nil {
		t.Fatal(err)
	}
	p := auth.Principal{UserID: u.ID, Name: u.Name}
	sessions := auth.NewWeb(e.Core.Auth, e.Core.Keys, auth.DefaultSessionPolicy)
	w, err := web.New(e.Core.Files, e.Core.Accounts, sessions, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(w)
	t.Cleanup(srv.Close)
	c := srv.Client()
	c.Jar = &cookieJar{cookies: map[string]*http.Cookie{}}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return srv, c, e, p
}

// cookieJar keeps cookies by name, whatever their prefix rules (httptest's host is an IP).
type cookieJar struct{ cookies map[string]*http.Cookie }

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(j.cookies, c.Name)
		} else {
			j.cookies[c.Name] = c
		}
	}
}
func (j *cookieJar) Cookies(*url.URL) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range j.cookies {
		out = append(out, c)
	}
	return out
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSignInAndBrowse(t *testing.T) {
	srv, c, e, p := setup(t)
	// Signed out: the browser is sent to sign in, with the way back.
	resp, err := c.Get(srv.URL + "/files/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Fatalf("signed out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = c.Get(srv.URL + "/login")
	page := body(t, resp)
	if !strings.Contains(page, `autocomplete="current-password"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("login page: %s", page)
	}
	// A wrong password says so, without saying which part was wrong.
	resp, _ = c.PostForm(srv.URL+"/login", url.Values{"user": {"lab"}, "password": {"nope"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body(t, resp), "user name or password is wrong") {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	// An open redirect through next is not possible.
	resp, _ = c.PostForm(srv.URL+"/login", url.Values{"user": {"lab"}, "password": {"password-of-lab"}, "next": {"//evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/files/" {
		t.Fatalf("sign in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	ck := resp.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || !ck[0].Secure || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Name != web.CookieName {
		t.Fatalf("session cookie %+v", ck)
	}

	// A file whose name is markup shows as text.
	evil := "<img src=x onerror=alert(1)>.txt"
	if _, err := e.Core.Files.Create(context.Background(), p, "/"+evil, bytes.NewReader([]byte("x")), files.CreateOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Core.Files.Mkdir(context.Background(), p, "/results 2026", false); err != nil {
		t.Fatal(err)
	}
	resp, _ = c.Get(srv.URL + "/files/")
	page = body(t, resp)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "<img src=x") || !strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt;.txt") {
		t.Fatalf("listing: %d\n%s", resp.StatusCode, page)
	}
	if !strings.Contains(page, `href="/files/results%202026/"`) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("listing lacks the folder link or may be cached")
	}
	resp, _ = c.Get(srv.URL + "/files/results%202026/")
	if page := body(t, resp); !strings.Contains(page, "This folder is empty") {
		t.Errorf("empty folder page: %s", page)
	}
	resp, _ = c.Get(srv.URL + "/files/missing/")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing folder: %d", resp.StatusCode)
	}

	// A cross-site form post is refused.
	req, _ := http.NewRequest("POST", srv.URL+"/logout", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, _ = c.Do(req)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", resp.StatusCode)
	}
	// Sign out ends the session.
	resp, _ = c.PostForm(srv.URL+"/logout", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	resp, _ = c.Get(srv.URL + "/files/")
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out the files page answers %d", resp.StatusCode)
	}
	// Static assets are served, with a type.
	resp, _ = c.Get(srv.URL + "/static/upload.js")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
		t.Errorf("upload.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

var keyRE = regexp.MustCompile(`Key: <span class="mono">([A-Z2-7]+)</span>`)

// TestTwoStepVerification enrols TOTP from the account page, then signs in with the
// password and a code.
func TestTwoStepVerification(t *testing.T) {
	srv, c, _, _ := setup(t)
	resp, _ := c.PostForm(srv.URL+"/login", url.Values{"user": {"lab"}, "password": {"password-of-lab"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	resp, _ = c.Get(srv.URL + "/account")
	if page := body(t, resp); !strings.Contains(page, "Set up two-step verification") || strings.Contains(page, `name="password"`) {
		t.Fatalf("account page right after sign-in (no password needed yet): %s", page)
	}
	resp, _ = c.PostForm(srv.URL+"/account/2fa/begin", nil)
	page := body(t, resp)
	m := keyRE.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(page, "<svg") {
		t.Fatalf("enrolment page %d: %s", resp.StatusCode, page)
	}
	if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(m[1]); err != nil {
		t.Fatalf("the key shown is not base32: %v", err)
	}
	// A wrong code is refused; the right one turns it on and shows recovery codes once.
	resp, _ = c.PostForm(srv.URL+"/account/2fa/confirm", url.Values{"code": {"000000"}})
	if resp.StatusCode == http.StatusOK {
		if strings.Contains(body(t, resp), "recovery codes") {
			t.Fatal("a wrong code turned two-step verification on")
		}
	}
	resp, _ = c.PostForm(srv.URL+"/account/2fa/begin", nil)
	m = keyRE.FindStringSubmatch(body(t, resp))
	if m == nil {
		t.Fatal("no key on the second enrolment page")
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = c.PostForm(srv.URL+"/account/2fa/confirm", url.Values{"code": {auth.TOTPCode(key, time.Now())}})
	page = body(t, resp)
	codes := regexp.MustCompile(`<li>([A-Za-z0-9-]{8,})</li>`).FindAllStringSubmatch(page, -1)
	if resp.StatusCode != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirmation %d with %d recovery codes: %s", resp.StatusCode, len(codes), page)
	}

	// Sign out and in again: the password alone is not enough.
	c.PostForm(srv.URL+"/logout", nil)
	resp, _ = c.PostForm(srv.URL+"/login", url.Values{"user": {"lab"}, "password": {"password-of-lab"}})
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, `autocomplete="one-time-code"`) {
		t.Fatalf("password step with 2FA on: %d %s", resp.StatusCode, page)
	}
	resp, _ = c.Get(srv.URL + "/files/")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("files page before the second step: %d", resp.StatusCode)
	}
	resp, _ = c.PostForm(srv.URL+"/login/2fa", url.Values{"code": {"123456"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", resp.StatusCode)
	}
	// A recovery code works (the TOTP code of this 30-second step was used at enrolment).
	resp, _ = c.PostForm(srv.URL+"/login/2fa", url.Values{"code": {codes[0][1]}, "next": {"/files/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/files/" {
		t.Fatalf("recovery code: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = c.Get(srv.URL + "/files/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("files page after the second step: %d", resp.StatusCode)
	}
}
