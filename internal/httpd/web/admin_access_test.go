package web_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestEditUserAccess: the user page sets and shows a user's allowed addresses and
// protocols, refuses a bad list with 400 and the reason, and the limit refuses tech's
// web sign-in until it is cleared.
func TestEditUserAccess(t *testing.T) {
	e, admin := adminEnv(t)
	set := func(ips, protos string) (int, string) {
		return page(t, admin, "POST", e.URL+"/admin/users/tech/settings", url.Values{"quota_gb": {"0"}, "password_login": {"on"},
			"allowed_ips": {ips}, "protocols": {protos}})
	}
	code, got := set("10.0.0.0/8", "sftp, api")
	mustContain(t, "save", code, 200, got, "Saved.", `name="allowed_ips" value="10.0.0.0/8"`, `name="protocols" value="api,sftp"`)
	resp, err := browserClient(e).PostForm(e.URL+"/login", url.Values{"user": {"tech"}, "password": {"password-of-tech"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("web sign-in outside the limits: %d", resp.StatusCode)
	}
	code, got = set("10.0.0.0/8, nonsense", "")
	mustContain(t, "bad address", code, 400, got, "neither an address nor a CIDR prefix")
	code, got = set("", "web,ftp")
	mustContain(t, "bad protocol", code, 400, got, "unknown protocol")
	code, got = set("", "")
	mustContain(t, "clear", code, 200, got, "Saved.", `name="allowed_ips" value=""`)
	signedIn(t, e, "tech", "password-of-tech")
}
