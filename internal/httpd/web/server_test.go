package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

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
