package api_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/testenv"
)

var tokenRE = regexp.MustCompile(`^coffer_[a-z2-7]{16}_[a-z2-7]{52}$`)

type tokenOut struct {
	Token   string    `json:"token"`
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	User    string    `json:"user"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Revoked bool      `json:"revoked"`
}

func basic(user, pass string) http.Header {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return http.Header{"Authorization": r.Header["Authorization"]}
}

func TestCreateToken(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		e.User(t, "alice", 0)
		good := basic("alice", "password-of-alice")
		json := http.Header{"Content-Type": {"application/json"}}
		withJSON := func(h http.Header) http.Header {
			out := h.Clone()
			out.Set("Content-Type", "application/json")
			return out
		}
		for _, tc := range []struct {
			name    string
			header  http.Header
			body    string
			status  int
			expires time.Duration // of the new token, when it is made
		}{
			{"basic, no body", good, "", http.StatusCreated, 30 * 24 * time.Hour},
			{"basic with name and lifetime", withJSON(good), `{"name":"ci","expires_in":"2h"}`, http.StatusCreated, 2 * time.Hour},
			{"wrong password", basic("alice", "not-her-password"), "", http.StatusUnauthorized, 0},
			{"no such user", basic("nobody", "password-of-alice"), "", http.StatusUnauthorized, 0},
			{"no credentials", nil, "", http.StatusUnauthorized, 0},
			{"no credentials but JSON", json, `{"name":"x"}`, http.StatusUnauthorized, 0},
			{"bearer instead of basic", http.Header{"Authorization": {"Bearer x"}}, "", http.StatusUnauthorized, 0},
			{"malformed JSON", withJSON(good), `{"name":`, http.StatusBadRequest, 0},
			{"unknown field", withJSON(good), `{"name":"x","admin":true}`, http.StatusBadRequest, 0},
			{"two values", withJSON(good), `{"name":"x"}{"name":"y"}`, http.StatusBadRequest, 0},
			{"not JSON content type", func() http.Header { h := good.Clone(); h.Set("Content-Type", "text/plain"); return h }(), `{"name":"x"}`, http.StatusBadRequest, 0},
			{"expires_in not a duration", withJSON(good), `{"expires_in":"soon"}`, http.StatusBadRequest, 0},
			{"expires_in too short", withJSON(good), `{"expires_in":"1s"}`, http.StatusBadRequest, 0},
			{"expires_in too long", withJSON(good), `{"expires_in":"100000h"}`, http.StatusBadRequest, 0},
			{"expires_in negative", withJSON(good), `{"expires_in":"-2h"}`, http.StatusBadRequest, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req := testenv.Request{Method: "POST", Path: "/api/v1/tokens", Header: tc.header}
				if tc.body != "" {
					req.Body = strings.NewReader(tc.body)
				}
				before := time.Now()
				resp, body := e.Do(t, req)
				if tc.status != http.StatusCreated {
					wantProblem(t, resp, body, tc.status)
					if tc.status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
						t.Errorf("WWW-Authenticate %q, want a Basic challenge", resp.Header.Get("WWW-Authenticate"))
					}
					return
				}
				wantStatus(t, resp, body, http.StatusCreated)
				var tok tokenOut
				decode(t, body, &tok)
				if !tokenRE.MatchString(tok.Token) || tok.User != "alice" || tok.ID == "" || !strings.Contains(tok.Token, tok.ID) {
					t.Fatalf("token response %s", body)
				}
				if d := tok.Expires.Sub(before.Add(tc.expires)); d < -time.Minute || d > time.Minute {
					t.Errorf("expires %s, want about now+%s", tok.Expires, tc.expires)
				}
				resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/me", Token: tok.Token})
				wantStatus(t, resp, body, http.StatusOK)
				if !strings.Contains(string(body), `"name": "alice"`) {
					t.Errorf("GET /me with the new token: %s", body)
				}
			})
		}
	})
}

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		alice := e.User(t, "alice", 0)
		bob := e.User(t, "bob", 0)
		resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/tokens", Header: basic("alice", "password-of-alice"),
			Body: strings.NewReader(`{"name":"laptop"}`)})
		wantStatus(t, resp, body, http.StatusCreated)
		var laptop tokenOut
		decode(t, body, &laptop)

		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/tokens", Token: alice})
		wantStatus(t, resp, body, http.StatusOK)
		var ts struct{ Tokens []tokenOut }
		decode(t, body, &ts)
		if len(ts.Tokens) != 2 {
			t.Fatalf("alice has %d tokens, want 2: %s", len(ts.Tokens), body)
		}
		for _, tok := range ts.Tokens {
			if tok.Token != "" || tok.User != "alice" {
				t.Errorf("listed token %+v: secrets must never be listed", tok)
			}
		}
		if strings.Contains(string(body), strings.TrimPrefix(laptop.Token, "coffer_"+laptop.ID+"_")) {
			t.Errorf("the token list shows a secret: %s", body)
		}

		// Another user can neither see nor revoke it: it does not exist for them.
		resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/tokens/" + laptop.ID, Token: bob})
		wantProblem(t, resp, body, http.StatusNotFound)
		resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/tokens/nosuchtoken", Token: alice})
		wantProblem(t, resp, body, http.StatusNotFound)

		resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/tokens/" + laptop.ID, Token: alice})
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/me", Token: laptop.Token})
		wantProblem(t, resp, body, http.StatusUnauthorized)
		// The other token is untouched.
		if used, _ := me(t, e, alice); used != 0 {
			t.Errorf("used %d", used)
		}
	})
}

func TestMe(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 5000)
		if used, quota := me(t, e, tok); used != 0 || quota != 5000 {
			t.Fatalf("fresh user: used %d quota %d", used, quota)
		}
		upload(t, e, tok, "a/b.bin", make([]byte, 1234))
		upload(t, e, tok, "c.bin", make([]byte, 766))
		if used, quota := me(t, e, tok); used != 2000 || quota != 5000 {
			t.Fatalf("after 2000 bytes: used %d quota %d", used, quota)
		}
		upload(t, e, tok, "c.bin", make([]byte, 10)) // replaced: charged the difference
		if used, _ := me(t, e, tok); used != 1244 {
			t.Fatalf("after replacing: used %d, want 1244", used)
		}
		resp, body := e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/files/a?recursive=true", Token: tok})
		wantStatus(t, resp, body, http.StatusNoContent)
		if used, _ := me(t, e, tok); used != 10 {
			t.Fatalf("after deleting: used %d, want 10", used)
		}
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/me", Token: e.AdminToken})
		wantStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(string(body), `"admin": true`) {
			t.Errorf("admin's /me: %s", body)
		}
	})
}

// TestLockout checks both lockouts, their 429 answers, and that an administrator can
// lift an account's lockout through the API.
func TestLockout(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		e.User(t, "alice", 0)
		login := func(user, pass string) (*http.Response, []byte) {
			return e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/tokens", Header: basic(user, pass)})
		}
		lockedUntil := regexp.MustCompile(`locked until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC`)
		wantLocked := func(resp *http.Response, body []byte) {
			t.Helper()
			p := wantProblem(t, resp, body, http.StatusTooManyRequests)
			if ra := resp.Header.Get("Retry-After"); ra != "900" {
				t.Errorf("Retry-After = %q, want 900 (the policy's 15 minutes)", ra)
			}
			m := lockedUntil.FindStringSubmatch(p.Detail)
			if m == nil {
				t.Fatalf("the lockout problem does not say until when: %q", p.Detail)
			}
			until, err := time.Parse(time.DateTime, m[1])
			if err != nil || until.Before(time.Now().Add(10*time.Minute)) || until.After(time.Now().Add(20*time.Minute)) {
				t.Errorf("locked until %s (%v), want about 15 minutes from now", m[1], err)
			}
		}

		// The account: 5 failures lock it, even against the right password.
		for i := range 5 {
			resp, body := login("alice", fmt.Sprintf("wrong-%d", i))
			wantProblem(t, resp, body, http.StatusUnauthorized)
		}
		wantLocked(login("alice", "password-of-alice"))
		resp, body := e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/admin/lockouts/user/alice", Token: e.AdminToken})
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = login("alice", "password-of-alice")
		wantStatus(t, resp, body, http.StatusCreated)
		resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/admin/lockouts/galaxy/alice", Token: e.AdminToken})
		wantProblem(t, resp, body, http.StatusBadRequest)

		// The address: 20 failures (5 above and 15 for names that do not exist) block it;
		// the 21st attempt is refused without a check, and so are bearer tokens.
		for i := range 15 {
			resp, body := login(fmt.Sprintf("ghost%d", i), "whatever-password")
			wantProblem(t, resp, body, http.StatusUnauthorized)
		}
		wantLocked(login("alice", "password-of-alice"))
		wantLocked(e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/me", Token: e.AdminToken}))

		// The administrator is blocked too from this address: read the log directly.
		recs, err := e.Core.DB.Q().AuditQuery(context.Background(), db.AuditFilter{Action: "login.lockout"}, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 {
			t.Errorf("%d lockout records, want 2 (account and address): %+v", len(recs), recs)
		}
	})
}
