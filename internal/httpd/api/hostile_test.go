package api_test

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coffer-mft/coffer/internal/testenv"
)

// TestPathAttacks sends every spelling of a path that tries to leave the user's tree, or
// that is not a valid name, to each endpoint that takes a path: each is refused with 400,
// nothing is created, and nothing outside the tree is read.
func TestPathAttacks(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x/", 2100) + "x" // 4201 bytes of valid names
	paths := []string{
		"../../etc/passwd",
		"a/../../etc/passwd",
		"a/..",
		"./a",
		"%2e%2e/%2e%2e/etc/passwd",
		"%2E%2E/secret",
		"a%2f..%2f..%2fb",
		"a%2F..%2F..%2Fb",
		"%2fetc%2fpasswd",
		"a%5c..%5cb",
		"..%5c..%5cwindows%5cwin.ini",
		"a%00b",
		"a%00/../b",
		"a%01b",
		"a%1fb",
		"a%7fb",
		"a%c2%85b", // U+0085, a C1 control
		"%ff",
		"a%c0%ae%c0%ae/b", // overlong "..": invalid UTF-8
		"%e2%82",          // a truncated UTF-8 sequence
		strings.Repeat("n", 256),
		long,
		"/double",
		"a//b",
		"a/%2f/b",
	}
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		upload(t, e, tok, "a/keep.txt", []byte("keep"))
		for _, p := range paths {
			name := p
			if len(name) > 40 {
				name = name[:20] + "...(" + string(rune('0'+len(p)/1000)) + "k)"
			}
			t.Run(name, func(t *testing.T) {
				for _, req := range []testenv.Request{
					{Method: "GET", Path: "/api/v1/files/" + p},
					{Method: "HEAD", Path: "/api/v1/files/" + p},
					{Method: "PUT", Path: "/api/v1/files/" + p, Body: strings.NewReader("pwned")},
					{Method: "DELETE", Path: "/api/v1/files/" + p + "?recursive=true"},
					{Method: "GET", Path: "/api/v1/dirs/" + p},
					{Method: "POST", Path: "/api/v1/dirs/" + p + "?parents=true"},
				} {
					req.Token = tok
					resp, body := e.Do(t, req)
					wantProblem(t, resp, body, http.StatusBadRequest)
					if bytes.Contains(body, []byte("root:")) {
						t.Fatalf("%s %s leaked a system file: %s", req.Method, req.Path, body)
					}
				}
				// JSON cannot carry invalid UTF-8 (decoders replace it), so those spellings
				// are URL-only.
				if to, err := url.PathUnescape(p); err == nil && utf8.ValidString(to) {
					resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/move", Token: tok,
						JSON: map[string]string{"from": "/a/keep.txt", "to": "/" + to}})
					wantProblem(t, resp, body, http.StatusBadRequest)
				}
			})
		}
		// Nothing was made, moved or deleted.
		if l := list(t, e, tok, "/"); !slices.Equal(names(l), []string{"a"}) {
			t.Errorf("root holds %v", names(l))
		}
		if l := list(t, e, tok, "a"); !slices.Equal(names(l), []string{"keep.txt"}) {
			t.Errorf("/a holds %v", names(l))
		}
		if used, _ := me(t, e, tok); used != 4 {
			t.Errorf("used %d bytes, want 4", used)
		}
		if fs := blobFiles(t, e); len(fs) != 0 {
			t.Errorf("blob files %v, want none (keep.txt is small: its payload is in its row)", fs)
		}
		// The attempts that reached the file layer are audited as denied.
		var denied int
		for _, r := range auditLog(t, e, "actor=alice") {
			if r.Result == "denied" {
				denied++
			}
		}
		if denied < len(paths) {
			t.Errorf("%d denied records for %d attack paths", denied, len(paths))
		}
		// Also those refused at the HTTP edge, before any use case: an encoded slash.
		var edge int
		for _, r := range auditLog(t, e, "actor=alice&path=%252f") {
			if r.Result == "denied" {
				edge++
			}
		}
		if edge == 0 {
			t.Error("requests with an encoded slash were refused but not audited")
		}
	})
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		alice := e.User(t, "alice", 0)
		upload(t, e, alice, "secret.txt", []byte("top secret"))
		id := strings.Split(alice, "_")[1]
		for _, tc := range []struct {
			name, authz, detail string // detail: of the audit record, "" for none
		}{
			{"no header", "", ""},
			{"empty bearer", "Bearer ", ""}, // the trailing space is trimmed: no bearer token at all
			{"bearer and space", "Bearer  x", "bearer token: malformed"},
			{"garbage", "Bearer garbage", "bearer token: malformed"},
			{"basic instead", "Basic YWxpY2U6cGFzc3dvcmQtb2YtYWxpY2U=", ""},
			{"unknown id", "Bearer coffer_" + strings.Repeat("a", 16) + "_" + strings.Repeat("b", 52), "bearer token: unknown token id"},
			{"wrong secret", "Bearer coffer_" + id + "_" + strings.Repeat("b", 52), "bearer token: wrong secret for token " + id},
			{"truncated", "Bearer " + alice[:len(alice)-1], "bearer token: malformed"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(auditLog(t, e, "action=token.use"))
				for _, path := range []string{"/api/v1/files/secret.txt", "/api/v1/me", "/api/v1/admin/users"} {
					resp, body := e.Do(t, testenv.Request{Method: "GET", Path: path, Header: http.Header{"Authorization": {tc.authz}}})
					wantProblem(t, resp, body, http.StatusUnauthorized)
					if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
						t.Errorf("WWW-Authenticate %q, want a Bearer challenge", got)
					}
					if bytes.Contains(body, []byte("top secret")) {
						t.Fatal("the content leaked")
					}
				}
				recs := auditLog(t, e, "action=token.use")
				if tc.detail == "" {
					if len(recs) != before {
						t.Errorf("requests without a token were audited as token use: %+v", recs[0])
					}
					return
				}
				if len(recs) != before+3 {
					t.Fatalf("%d new token.use records, want 3", len(recs)-before)
				}
				if recs[0].Result != "denied" || recs[0].Detail != tc.detail || recs[0].SourceIP != "127.0.0.1" {
					t.Errorf("audit after a bad token: %d new records, newest %+v", len(recs)-before, recs[0])
				}
				if secret := strings.TrimPrefix(tc.authz, "Bearer "); len(secret) > 20 && strings.Contains(strings.Join([]string{recs[0].Detail, recs[0].Path, recs[0].Target}, " "), secret[len(secret)-20:]) {
					t.Errorf("the audit log holds the presented secret: %+v", recs[0])
				}
			})
		}
	})
}

// TestOtherUsersFiles checks that a user can reach no file of another: not in their
// home, not in a shared folder they have no grant on, not in one where they may only
// write; the answer is 404, the same as for a file that does not exist.
func TestOtherUsersFiles(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		alice := e.User(t, "alice", 0)
		bob := e.User(t, "bob", 0)
		for _, body := range []string{`{"name":"Private"}`, `{"name":"Dropbox"}`} {
			resp, b := admin(t, e, "POST", "/folders", body)
			wantStatus(t, resp, b, http.StatusCreated)
		}
		for _, g := range []string{
			`{"folder":"Private","user":"alice","perms":["all"]}`,
			`{"folder":"Dropbox","user":"alice","perms":["all"]}`,
			`{"folder":"Dropbox","user":"bob","perms":["write"]}`,
		} {
			resp, b := admin(t, e, "PUT", "/grants", g)
			wantStatus(t, resp, b, http.StatusNoContent)
		}
		secret := []byte("alice's secret bytes")
		for _, p := range []string{"home.txt", "Private/plan.txt", "Dropbox/inbox.txt"} {
			upload(t, e, alice, p, secret)
		}

		for _, path := range []string{"home.txt", "Private/plan.txt", "Dropbox/inbox.txt"} {
			t.Run(path, func(t *testing.T) {
				for _, req := range []testenv.Request{
					{Method: "GET", Path: "/api/v1/files/" + path},
					{Method: "HEAD", Path: "/api/v1/files/" + path},
					{Method: "GET", Path: "/api/v1/files/" + path, Header: http.Header{"Range": {"bytes=0-3"}}},
					{Method: "DELETE", Path: "/api/v1/files/" + path},
					{Method: "POST", Path: "/api/v1/move", JSON: map[string]string{"from": "/" + path, "to": "/mine.txt"}},
				} {
					req.Token = bob
					resp, body := e.Do(t, req)
					wantProblem(t, resp, body, http.StatusNotFound)
					if bytes.Contains(body, secret[:10]) {
						t.Fatalf("%s %s leaked the content: %s", req.Method, req.Path, body)
					}
				}
				if got := download(t, e, alice, path); !bytes.Equal(got, secret) {
					t.Errorf("alice's file changed: %q", got)
				}
			})
		}
		// Where bob may write but not list, he cannot see what is there either.
		resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/dirs/Dropbox", Token: bob})
		wantProblem(t, resp, body, http.StatusNotFound)
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/dirs/Private", Token: bob})
		wantProblem(t, resp, body, http.StatusNotFound)
		if l := list(t, e, bob, "/"); !slices.Equal(names(l), []string{"Dropbox"}) {
			t.Errorf("bob's root: %v", names(l))
		}

		// Each attempt is in the log, none as a success; where bob reached a folder he
		// may not read, as a denial (though he was told 404).
		recs := auditLog(t, e, "actor=bob&action=file.download")
		if len(recs) != 6 {
			t.Errorf("%d download records for bob, want 6", len(recs))
		}
		for _, r := range recs {
			want := "error" // bob's own home, where the file does not exist
			if strings.HasPrefix(r.Path, "/Dropbox/") {
				want = "denied"
			}
			if r.Result != want || r.Bytes != 0 {
				t.Errorf("bob's attempt is recorded as %+v, want result %q", r, want)
			}
		}

		// bob can still drop a file there, by upload or by moving his own, though he
		// cannot see it afterwards.
		resp, body = put(t, e, bob, "Dropbox/from-bob.txt", []byte("for alice"))
		wantStatus(t, resp, body, http.StatusCreated)
		upload(t, e, bob, "mine.txt", []byte("also for alice"))
		resp, body = e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/move", Token: bob, JSON: map[string]string{"from": "/mine.txt", "to": "/Dropbox/mine.txt"}})
		wantStatus(t, resp, body, http.StatusNoContent)
		wantAbsent(t, e, bob, "mine.txt")
		if got := download(t, e, alice, "Dropbox/mine.txt"); string(got) != "also for alice" {
			t.Errorf("alice finds %q in her drop folder", got)
		}
	})
}

func TestMalformedJSON(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		alice := e.User(t, "alice", 0)
		upload(t, e, alice, "a.txt", []byte("A"))
		endpoints := []struct {
			method, path, token string
		}{
			{"POST", "/api/v1/move", alice},
			{"POST", "/api/v1/admin/users", e.AdminToken},
			{"PATCH", "/api/v1/admin/users/alice", e.AdminToken},
			{"POST", "/api/v1/admin/users/alice/tokens", e.AdminToken},
			{"POST", "/api/v1/admin/groups", e.AdminToken},
			{"POST", "/api/v1/admin/folders", e.AdminToken},
			{"PATCH", "/api/v1/admin/folders/Nope", e.AdminToken},
			{"PUT", "/api/v1/admin/grants", e.AdminToken},
		}
		huge := `{"name":"` + strings.Repeat("a", 2<<20) + `"}`
		for _, tc := range []struct {
			name, contentType, body string
			status                  int
		}{
			{"truncated", "application/json", `{"name":`, http.StatusBadRequest},
			{"not JSON", "application/json", `name=x`, http.StatusBadRequest},
			{"unknown field", "application/json", `{"bogus":1}`, http.StatusBadRequest},
			{"wrong type", "application/json", `{"name":7,"from":7,"folder":7,"quota_bytes":"7"}`, http.StatusBadRequest},
			{"two values", "application/json", `{}{}`, http.StatusBadRequest},
			{"null", "application/json", `null`, http.StatusBadRequest},
			{"array", "application/json", `[]`, http.StatusBadRequest},
			{"empty", "application/json", ``, http.StatusBadRequest},
			{"form", "application/x-www-form-urlencoded", `name=x`, http.StatusBadRequest},
			{"2 MiB", "application/json", huge, http.StatusRequestEntityTooLarge},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, ep := range endpoints {
					resp, body := e.Do(t, testenv.Request{Method: ep.method, Path: ep.path, Token: ep.token,
						Body: strings.NewReader(tc.body), Header: http.Header{"Content-Type": {tc.contentType}}})
					if resp.StatusCode == http.StatusNotFound && ep.path == "/api/v1/admin/folders/Nope" && tc.status == http.StatusBadRequest {
						continue // {} and null are valid JSON; the folder is missing
					}
					wantProblem(t, resp, body, tc.status)
				}
			})
		}
		if users := listUsers(t, e); !slices.Equal(users, []string{"admin", "alice"}) {
			t.Errorf("users %v", users)
		}
		if l := list(t, e, alice, "/"); !slices.Equal(names(l), []string{"a.txt"}) {
			t.Errorf("alice's root %v", names(l))
		}
	})
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	alice := e.User(t, "alice", 0)
	upload(t, e, alice, "f.txt", []byte("x"))
	for _, tc := range []struct {
		method, path, allow string
	}{
		{"POST", "/api/v1/files/f.txt", "GET, HEAD, PUT, DELETE"},
		{"PATCH", "/api/v1/files/f.txt", "GET, HEAD, PUT, DELETE"},
		{"OPTIONS", "/api/v1/files/f.txt", "GET, HEAD, PUT, DELETE"},
		{"PUT", "/api/v1/dirs/d", "GET, POST"},
		{"DELETE", "/api/v1/dirs/d", "GET, POST"},
		{"PUT", "/api/v1/me", "GET, HEAD"},
		{"DELETE", "/api/v1/me", "GET, HEAD"},
		{"GET", "/api/v1/move", "POST"},
		{"PATCH", "/api/v1/tokens", "GET, HEAD, POST"},
		{"GET", "/api/v1/tokens/abc", "DELETE"},
		{"DELETE", "/api/v1/admin/users", "GET, HEAD, POST"},
		{"DELETE", "/api/v1/admin/users/alice", "GET, HEAD, PATCH"},
		{"POST", "/api/v1/admin/grants", "GET, HEAD, PUT"},
		{"POST", "/api/v1/admin/audit/verify", "GET, HEAD"},
		{"GET", "/api/v1/admin/lockouts/ip/1.2.3.4", "DELETE"},
		{"POST", "/api/v1/openapi.json", "GET, HEAD"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := e.Do(t, testenv.Request{Method: tc.method, Path: tc.path, Token: alice})
			wantProblem(t, resp, body, http.StatusMethodNotAllowed)
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
	if got := download(t, e, alice, "f.txt"); string(got) != "x" {
		t.Errorf("f.txt holds %q", got)
	}
}

func TestUnknownEndpoint(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	for _, path := range []string{"/api/v1/", "/api/v1/nope", "/api/v1/admin", "/api/v1/admin/nope", "/api/v1/filesx/a", "/api/v1/files%2fa"} {
		for _, tok := range []string{"", e.AdminToken} {
			resp, body := e.Do(t, testenv.Request{Method: "GET", Path: path, Token: tok})
			wantProblem(t, resp, body, http.StatusNotFound)
		}
	}
}

// TestHostileFileName stores files whose names are markup (or otherwise awkward) and
// checks that no response lets a browser treat them as such.
func TestHostileFileName(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		for _, path := range []string{
			`<script>alert(1)</script>.txt`, // the directory "<script>alert(1)<" and the file "script>.txt"
			`<img src=x onerror=alert(1)>`,
			`a"; filename="evil.html`,
			`100% sure?#.txt`,
			`résumé ☃.pdf`,
		} {
			t.Run(path, func(t *testing.T) {
				segs := strings.Split(path, "/")
				escaped := make([]string, len(segs))
				for i, s := range segs {
					escaped[i] = url.PathEscape(s)
				}
				name := segs[len(segs)-1]
				dir := "x/" + strings.Join(escaped[:len(segs)-1], "/")
				url := "/api/v1/files/x/" + strings.Join(escaped, "/")
				resp, body := e.Do(t, testenv.Request{Method: "PUT", Path: url, Token: tok, Body: strings.NewReader("<html>hi</html>")})
				wantStatus(t, resp, body, http.StatusCreated)
				if loc := resp.Header.Get("Location"); loc != url {
					t.Errorf("Location %q, want %q", loc, url)
				}

				resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/dirs/" + dir, Token: tok})
				wantStatus(t, resp, body, http.StatusOK)
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("listing served as %q, nosniff %q", ct, resp.Header.Get("X-Content-Type-Options"))
				}
				if bytes.ContainsAny(body, "<>") {
					t.Errorf("the listing holds raw markup: %s", body)
				}
				var l listing
				decode(t, body, &l)
				if !slices.Contains(names(l), name) {
					t.Errorf("listing %v lacks %q", names(l), name)
				}

				resp, body = e.Do(t, testenv.Request{Method: "GET", Path: url, Token: tok})
				wantStatus(t, resp, body, http.StatusOK)
				h := resp.Header
				if h.Get("Content-Type") != "application/octet-stream" || h.Get("X-Content-Type-Options") != "nosniff" ||
					!strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'") {
					t.Errorf("download headers %v", h)
				}
				cd := h.Get("Content-Disposition")
				disp, filename, err := parseDisposition(cd)
				if err != nil || disp != "attachment" || filename != name {
					t.Errorf("Content-Disposition %q: %q %q %v", cd, disp, filename, err)
				}
				if disp, params, err := mime.ParseMediaType(cd); err != nil || disp != "attachment" || params["filename"] != name {
					t.Errorf("mime.ParseMediaType(%q) = %q %q %v", cd, disp, params, err)
				}
			})
		}
	})
}

// parseDisposition parses a Content-Disposition header strictly: one disposition and
// exactly one parameter, filename*, an RFC 8187 value of attr-chars and %-escapes.
func parseDisposition(v string) (disposition, filename string, err error) {
	disp, rest, _ := strings.Cut(v, ";")
	for _, p := range strings.Split(rest, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || k != "filename*" || filename != "" {
			return "", "", fmt.Errorf("unexpected parameter %q", p)
		}
		enc, ok := strings.CutPrefix(val, "UTF-8''")
		if !ok || strings.Trim(enc, attrChars+"%") != "" {
			return "", "", fmt.Errorf("filename* %q is not an RFC 8187 value", val)
		}
		if filename, err = url.PathUnescape(enc); err != nil {
			return "", "", err
		}
	}
	return strings.TrimSpace(disp), filename, nil
}

// attrChars are the characters RFC 8187 allows unescaped in a value.
const attrChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~"

// TestSecurityHeaders checks the headers every API response carries, whatever it is.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	tok := e.User(t, "alice", 0)
	upload(t, e, tok, "f.txt", []byte("x"))
	for _, req := range []testenv.Request{
		{Method: "GET", Path: "/api/v1/openapi.json"},
		{Method: "GET", Path: "/api/v1/me", Token: tok},
		{Method: "GET", Path: "/api/v1/me"},
		{Method: "GET", Path: "/api/v1/files/f.txt", Token: tok},
		{Method: "GET", Path: "/api/v1/files/f.txt", Token: tok, Header: http.Header{"Range": {"bytes=0-0"}}},
		{Method: "HEAD", Path: "/api/v1/files/f.txt", Token: tok},
		{Method: "GET", Path: "/api/v1/files/missing", Token: tok},
		{Method: "GET", Path: "/api/v1/files/../x", Token: tok},
		{Method: "PUT", Path: "/api/v1/files/g.txt", Token: tok, Body: strings.NewReader("y")},
		{Method: "DELETE", Path: "/api/v1/files/g.txt", Token: tok},
		{Method: "GET", Path: "/api/v1/dirs/", Token: tok},
		{Method: "PATCH", Path: "/api/v1/dirs/", Token: tok},
		{Method: "GET", Path: "/api/v1/nope"},
		{Method: "GET", Path: "/api/v1/admin/users", Token: tok},
		{Method: "POST", Path: "/api/v1/tokens"},
	} {
		resp, body := e.Do(t, req)
		for h, want := range map[string]string{
			"Cache-Control":             "no-store",
			"X-Content-Type-Options":    "nosniff",
			"Strict-Transport-Security": "max-age=63072000",
			"Referrer-Policy":           "no-referrer",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s %s (%d): %s %q, want %q; %.200s", req.Method, req.Path, resp.StatusCode, h, got, want, body)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s %s: Content-Security-Policy %q", req.Method, req.Path, csp)
		}
	}
}

// Paths outside /files and /dirs with "." or ".." segments are refused, not redirected.
func TestUncleanAPIPaths(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	for _, p := range []string{"/api/v1/users/../admin/users", "/api/v1/admin/./users", "/api/v1//me", "/api/v1/admin/users/%2e%2e/groups"} {
		resp, body := e.Do(t, testenv.Request{Method: "GET", Path: p, Token: e.AdminToken})
		wantProblem(t, resp, body, http.StatusBadRequest)
	}
	resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/admin/users/", Token: e.AdminToken})
	if resp.StatusCode == http.StatusBadRequest {
		t.Fatalf("a trailing slash is not unclean: %s", body)
	}
}
