package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/httpd/web"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// fakeSessions signs in one user with a fixed password; it stands in for the real
// backend, which has its own tests.
type fakeSessions struct {
	p        auth.Principal
	password string
	live     map[string]bool
}

func (f *fakeSessions) SignIn(_ context.Context, name, password string, _ auth.Client, _ string) (string, web.State, error) {
	if name != f.p.Name || password != f.password {
		return "", 0, errs.E(errs.Unauthenticated, "wrong")
	}
	f.live["secret-1"] = true
	return "secret-1", web.Complete, nil
}
func (f *fakeSessions) SecondFactor(context.Context, string, string, auth.Client) error { return nil }
func (f *fakeSessions) Session(_ context.Context, secret string, _ auth.Client) (auth.Principal, web.State, error) {
	if !f.live[secret] {
		return auth.Principal{}, 0, errs.E(errs.Unauthenticated, "no session")
	}
	return f.p, web.Complete, nil
}
func (f *fakeSessions) SignOut(_ context.Context, secret string) error {
	delete(f.live, secret)
	return nil
}

func setup(t *testing.T) (*httptest.Server, *http.Client, *testenv.Env, auth.Principal) {
	t.Helper()
	e := testenv.New(t, testenv.Options{})
	e.User(t, "lab", 0)
	u, err := e.Core.DB.Q().UserByName(context.Background(), "lab")
	if err != nil {
		t.Fatal(err)
	}
	p := auth.Principal{UserID: u.ID, Name: u.Name}
	w, err := web.New(e.Core.Files, &fakeSessions{p: p, password: "pw", live: map[string]bool{}}, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(w)
	t.Cleanup(srv.Close)
	c := srv.Client()
	jar := &cookieJar{cookies: map[string]*http.Cookie{}}
	c.Jar = jar
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
	resp, _ = c.PostForm(srv.URL+"/login", url.Values{"user": {"lab"}, "password": {"pw"}, "next": {"//evil.example/"}})
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
