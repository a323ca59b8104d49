package api_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/testenv"
)

func TestSSHKeys(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		alice := e.User(t, "alice", 0)
		bob := e.User(t, "bob", 0)
		pk, _, _ := ed25519.GenerateKey(rand.Reader)
		pub, _ := ssh.NewPublicKey(pk)
		line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " alice@laptop"
		fp := ssh.FingerprintSHA256(pub)

		resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/me/keys", Token: alice, JSON: map[string]string{"public_key": line}})
		wantStatus(t, resp, body, http.StatusCreated)
		if !strings.Contains(string(body), fp) {
			t.Fatalf("added key: %s", body)
		}
		for _, bad := range []string{"", "ssh-rsa AAAA", `from="10.0.0.1" ` + line, line} {
			resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/me/keys", Token: alice, JSON: map[string]string{"public_key": bad}})
			if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusConflict {
				t.Errorf("key %q: %d %s", bad, resp.StatusCode, body)
			}
		}
		// Bob sees none of alice's keys and cannot remove them.
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/me/keys", Token: bob})
		wantStatus(t, resp, body, http.StatusOK)
		if strings.Contains(string(body), fp) {
			t.Fatalf("bob sees alice's key: %s", body)
		}
		esc := url.PathEscape(fp)
		resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/admin/users/alice/keys/" + esc, Token: bob})
		wantProblem(t, resp, body, http.StatusForbidden)
		// The administrator lists and turns password sign-in off.
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/admin/users/alice/keys", Token: e.AdminToken})
		wantStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(string(body), "alice@laptop") {
			t.Fatalf("admin list: %s", body)
		}
		resp, body = e.Do(t, testenv.Request{Method: "PATCH", Path: "/api/v1/admin/users/alice", Token: e.AdminToken, JSON: map[string]bool{"password_login": false}})
		wantStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(string(body), `"password_login": false`) {
			t.Fatalf("patch: %s", body)
		}
		req := testenv.Request{Method: "POST", Path: "/api/v1/tokens", Header: basic("alice", "password-of-alice")}
		resp, body = e.Do(t, req)
		wantProblem(t, resp, body, http.StatusUnauthorized)
		// Alice removes her key.
		resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/me/keys/" + esc, Token: alice})
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/me/keys/" + esc, Token: alice})
		wantProblem(t, resp, body, http.StatusNotFound)
	})
}
