package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// accessEnv is a server with SFTP and helpers to try each way in as a user.
type accessEnv struct {
	*testenv.Env
	t   *testing.T
	web *http.Client // no redirects followed, no cookie jar
}

func newAccessEnv(t *testing.T) accessEnv {
	e := testenv.New(t, testenv.Options{SFTP: true})
	c := *e.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return accessEnv{Env: e, t: t, web: &c}
}

// set PATCHes the user's limits as the administrator and returns the status and body.
func (a accessEnv) set(name string, fields map[string]string) (int, string) {
	resp, body := a.Do(a.t, testenv.Request{Method: "PATCH", Path: "/api/v1/admin/users/" + name, Token: a.AdminToken, JSON: fields})
	return resp.StatusCode, string(body)
}

// mint asks for a token with HTTP Basic.
func (a accessEnv) mint(name string) (int, string) {
	r, _ := http.NewRequest("POST", "/", nil)
	r.SetBasicAuth(name, "password-of-"+name)
	resp, body := a.Do(a.t, testenv.Request{Method: "POST", Path: "/api/v1/tokens", Header: http.Header{"Authorization": r.Header["Authorization"]}})
	return resp.StatusCode, string(body)
}

// use calls the API with a token.
func (a accessEnv) use(token string) (int, string) {
	resp, body := a.Do(a.t, testenv.Request{Method: "GET", Path: "/api/v1/me", Token: token})
	return resp.StatusCode, string(body)
}

// signIn signs in on the web interface and returns the status, page and session cookie.
func (a accessEnv) signIn(name string) (int, string, *http.Cookie) {
	a.t.Helper()
	resp, err := a.web.PostForm(a.URL+"/login", url.Values{"user": {name}, "password": {"password-of-" + name}})
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	var ck *http.Cookie
	if cs := resp.Cookies(); len(cs) > 0 {
		ck = cs[0]
	}
	return resp.StatusCode, string(b), ck
}

// page fetches /files/ with a session cookie and returns the status.
func (a accessEnv) page(ck *http.Cookie) int {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.URL+"/files/", nil)
	req.AddCookie(ck)
	resp, err := a.web.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// denials returns the details of the user's refused sign-ins and token uses.
func (a accessEnv) denials(actor string) string {
	a.t.Helper()
	var out []string
	for _, act := range []string{audit.ActLogin, audit.ActTokenUse} {
		recs, err := a.Core.DB.Q().AuditQuery(context.Background(), db.AuditFilter{Action: act}, 1000)
		if err != nil {
			a.t.Fatal(err)
		}
		for _, r := range recs {
			if r.Actor == actor && r.Result == audit.Denied {
				out = append(out, r.Protocol+" "+r.Detail)
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestUserAllowedIPs: a user limited to 10.0.0.0/8 cannot mint or use API tokens, sign in
// over SFTP or to the web from 127.0.0.1, each refusal audited with why and told clearly;
// a bad list is refused with 400; once cleared, everything works again.
func TestUserAllowedIPs(t *testing.T) {
	a := newAccessEnv(t)
	tok := a.User(t, "alice", 0)
	if code, body := a.set("alice", map[string]string{"allowed_ips": " 10.1.2.3/8, 10.0.0.0/8"}); code != http.StatusOK || !strings.Contains(body, `"allowed_ips": "10.0.0.0/8"`) {
		t.Fatalf("set allowed_ips: %d %s", code, body)
	}
	const msg = "may not sign in from this address"
	if code, body := a.use(tok); code != http.StatusUnauthorized || !strings.Contains(body, msg) {
		t.Errorf("token from outside the list: %d %s", code, body)
	}
	if code, body := a.mint("alice"); code != http.StatusUnauthorized || !strings.Contains(body, msg) {
		t.Errorf("minting from outside the list: %d %s", code, body)
	}
	if got := sshTry(t, a.SFTPAddr, "alice", "password-of-alice"); got != "denied" {
		t.Errorf("SFTP from outside the list: %s", got)
	}
	if code, page, _ := a.signIn("alice"); code != http.StatusUnauthorized || !strings.Contains(page, msg) {
		t.Errorf("web sign-in from outside the list: %d", code)
	}
	d := a.denials("alice")
	for _, want := range []string{"https password: address 127.0.0.1 not in", "sftp password: address 127.0.0.1 not in", "bearer token: address 127.0.0.1 not in"} {
		if !strings.Contains(d, want) {
			t.Errorf("no audit record %q in\n%s", want, d)
		}
	}

	for _, bad := range []map[string]string{{"allowed_ips": "10.0.0.0/33"}, {"allowed_ips": "10.0.0.0/8, example.com"}, {"protocols": "web,ftp"}} {
		if code, body := a.set("alice", bad); code != http.StatusBadRequest || !strings.Contains(body, "allowed_ips") && !strings.Contains(body, "unknown protocol") {
			t.Errorf("%v: %d %s", bad, code, body)
		}
	}

	if code, body := a.set("alice", map[string]string{"allowed_ips": "127.0.0.0/8,::1"}); code != http.StatusOK {
		t.Fatalf("allow loopback: %d %s", code, body)
	}
	if code, body := a.use(tok); code != http.StatusOK {
		t.Errorf("token from inside the list: %d %s", code, body)
	}
	if code, body := a.set("alice", map[string]string{"allowed_ips": ""}); code != http.StatusOK || !strings.Contains(body, `"allowed_ips": ""`) {
		t.Fatalf("clear allowed_ips: %d %s", code, body)
	}
	if code, body := a.use(tok); code != http.StatusOK {
		t.Errorf("token after clearing: %d %s", code, body)
	}
	if code, body := a.mint("alice"); code != http.StatusCreated && code != http.StatusOK {
		t.Errorf("minting after clearing: %d %s", code, body)
	}
	if got := sshTry(t, a.SFTPAddr, "alice", "password-of-alice"); got != "ok" {
		t.Errorf("SFTP after clearing: %s", got)
	}
	if code, _, ck := a.signIn("alice"); code != http.StatusSeeOther || ck == nil {
		t.Errorf("web sign-in after clearing: %d", code)
	}
}

// TestUserProtocols: protocols=sftp refuses API tokens (existing and new) and the web but
// not SFTP; protocols=web,api refuses SFTP; a web session stops working once its
// protocol is taken away. Refusals are audited.
func TestUserProtocols(t *testing.T) {
	a := newAccessEnv(t)
	tok := a.User(t, "carol", 0)
	if code, body := a.set("carol", map[string]string{"protocols": "SFTP"}); code != http.StatusOK || !strings.Contains(body, `"protocols": "sftp"`) {
		t.Fatalf("set protocols: %d %s", code, body)
	}
	if code, body := a.use(tok); code != http.StatusUnauthorized || !strings.Contains(body, "may not use the API") {
		t.Errorf("existing token: %d %s", code, body)
	}
	if code, body := a.mint("carol"); code != http.StatusUnauthorized || !strings.Contains(body, "may not use the API") {
		t.Errorf("minting: %d %s", code, body)
	}
	if code, page, _ := a.signIn("carol"); code != http.StatusUnauthorized || !strings.Contains(page, "may not use the web interface") {
		t.Errorf("web sign-in: %d", code)
	}
	if got := sshTry(t, a.SFTPAddr, "carol", "password-of-carol"); got != "ok" {
		t.Errorf("SFTP: %s", got)
	}
	d := a.denials("carol")
	for _, want := range []string{"bearer token: protocol api not allowed", "https password: protocol api not allowed", "https password: protocol web not allowed"} {
		if !strings.Contains(d, want) {
			t.Errorf("no audit record %q in\n%s", want, d)
		}
	}

	a.User(t, "dave", 0)
	if code, body := a.set("dave", map[string]string{"protocols": "web,api"}); code != http.StatusOK {
		t.Fatalf("set protocols: %d %s", code, body)
	}
	if got := sshTry(t, a.SFTPAddr, "dave", "password-of-dave"); got != "denied" {
		t.Errorf("SFTP for web,api: %s", got)
	}
	if !strings.Contains(a.denials("dave"), "sftp password: protocol sftp not allowed") {
		t.Errorf("no audit record of the SFTP refusal:\n%s", a.denials("dave"))
	}
	if code, body := a.mint("dave"); code != http.StatusCreated && code != http.StatusOK {
		t.Errorf("minting for web,api: %d %s", code, body)
	}
	code, _, ck := a.signIn("dave")
	if code != http.StatusSeeOther || ck == nil {
		t.Fatalf("web sign-in for web,api: %d", code)
	}
	if got := a.page(ck); got != http.StatusOK {
		t.Fatalf("web page: %d", got)
	}
	if code, body := a.set("dave", map[string]string{"protocols": "api"}); code != http.StatusOK {
		t.Fatalf("set protocols: %d %s", code, body)
	}
	if got := a.page(ck); got == http.StatusOK {
		t.Errorf("web session after web was taken away: %d", got)
	}
	if !strings.Contains(a.denials("dave"), "web session: protocol web not allowed") {
		t.Errorf("no audit record of the session refusal:\n%s", a.denials("dave"))
	}
}
