package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/testenv"
)

type userOut struct {
	Name       string    `json:"name"`
	Admin      bool      `json:"admin"`
	Disabled   bool      `json:"disabled"`
	QuotaBytes int64     `json:"quota_bytes"`
	UsedBytes  int64     `json:"used_bytes"`
	Created    time.Time `json:"created"`
	Password   string    `json:"password"`
}

// admin sends an administrator's request with a JSON body given as text.
func admin(t testing.TB, e *testenv.Env, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	req := testenv.Request{Method: method, Path: "/api/v1/admin" + path, Token: e.AdminToken}
	if body != "" {
		req.Body = strings.NewReader(body)
		req.Header = http.Header{"Content-Type": {"application/json"}}
	}
	return e.Do(t, req)
}

func TestAdminUsers(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		resp, body := admin(t, e, "POST", "/users", `{"name":"carol","password":"a-long-password-for-carol","quota_bytes":1000}`)
		wantStatus(t, resp, body, http.StatusCreated)
		var carol userOut
		decode(t, body, &carol)
		if carol.Name != "carol" || carol.Admin || carol.Disabled || carol.QuotaBytes != 1000 || carol.Password != "" || carol.Created.IsZero() {
			t.Errorf("created %+v", carol)
		}

		// Without a password the server makes one, shown once, that works.
		resp, body = admin(t, e, "POST", "/users", `{"name":"dave"}`)
		wantStatus(t, resp, body, http.StatusCreated)
		var dave userOut
		decode(t, body, &dave)
		if len(dave.Password) < 12 {
			t.Fatalf("generated password %q", dave.Password)
		}
		resp, body = e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/tokens", Header: basic("dave", dave.Password)})
		wantStatus(t, resp, body, http.StatusCreated)
		resp, body = admin(t, e, "GET", "/users/dave", "")
		wantStatus(t, resp, body, http.StatusOK)
		if strings.Contains(string(body), dave.Password) || strings.Contains(string(body), `"password":`) {
			t.Errorf("GET shows the password: %s", body)
		}

		for _, tc := range []struct {
			name, method, path, body string
			status                   int
		}{
			{"duplicate", "POST", "/users", `{"name":"carol","password":"a-long-password-for-carol"}`, http.StatusConflict},
			{"bad name", "POST", "/users", `{"name":"Carol Smith"}`, http.StatusBadRequest},
			{"weak password", "POST", "/users", `{"name":"erin","password":"x"}`, http.StatusBadRequest},
			{"negative quota", "POST", "/users", `{"name":"erin","quota_bytes":-1}`, http.StatusBadRequest},
			{"unknown field", "POST", "/users", `{"name":"erin","role":"admin"}`, http.StatusBadRequest},
			{"wrong type", "POST", "/users", `{"name":"erin","admin":"yes"}`, http.StatusBadRequest},
			{"malformed", "POST", "/users", `{"name":`, http.StatusBadRequest},
			{"get missing", "GET", "/users/nobody", "", http.StatusNotFound},
			{"patch missing", "PATCH", "/users/nobody", `{"quota_bytes":5}`, http.StatusNotFound},
			{"patch unknown field", "PATCH", "/users/carol", `{"quota":5}`, http.StatusBadRequest},
			{"patch negative quota", "PATCH", "/users/carol", `{"quota_bytes":-5}`, http.StatusBadRequest},
			{"disable the last admin", "PATCH", "/users/admin", `{"disabled":true}`, http.StatusConflict},
			{"demote the last admin", "PATCH", "/users/admin", `{"admin":false}`, http.StatusConflict},
			{"tokens of nobody", "GET", "/users/nobody/tokens", "", http.StatusNotFound},
			{"token for nobody", "POST", "/users/nobody/tokens", `{}`, http.StatusNotFound},
			{"token with bad lifetime", "POST", "/users/carol/tokens", `{"expires_in":"forever"}`, http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := admin(t, e, tc.method, tc.path, tc.body)
				wantProblem(t, resp, body, tc.status)
			})
		}
		if !slices.Equal(listUsers(t, e), []string{"admin", "carol", "dave"}) {
			t.Errorf("refused requests changed the users: %v", listUsers(t, e))
		}

		resp, body = admin(t, e, "PATCH", "/users/carol", `{"quota_bytes":2000}`)
		wantStatus(t, resp, body, http.StatusOK)
		decode(t, body, &carol)
		if carol.QuotaBytes != 2000 {
			t.Errorf("after PATCH quota %d", carol.QuotaBytes)
		}

		// A token the administrator makes for carol works until carol is disabled.
		resp, body = admin(t, e, "POST", "/users/carol/tokens", `{"name":"from-admin","expires_in":"1h"}`)
		wantStatus(t, resp, body, http.StatusCreated)
		var tok tokenOut
		decode(t, body, &tok)
		if tok.User != "carol" || !tokenRE.MatchString(tok.Token) {
			t.Fatalf("token for carol: %s", body)
		}
		upload(t, e, tok.Token, "x.txt", []byte("carol's"))
		resp, body = admin(t, e, "GET", "/users/carol/tokens", "")
		wantStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(string(body), tok.ID) || strings.Contains(string(body), tok.Token) {
			t.Errorf("carol's tokens: %s", body)
		}
		resp, body = admin(t, e, "PATCH", "/users/carol", `{"disabled":true}`)
		wantStatus(t, resp, body, http.StatusOK)
		decode(t, body, &carol)
		if !carol.Disabled {
			t.Errorf("after disabling: %+v", carol)
		}
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/x.txt", Token: tok.Token})
		wantProblem(t, resp, body, http.StatusUnauthorized)
		resp, body = e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/tokens", Header: basic("carol", "a-long-password-for-carol")})
		wantProblem(t, resp, body, http.StatusUnauthorized)
		resp, body = admin(t, e, "POST", "/users/carol/tokens", `{}`)
		wantProblem(t, resp, body, http.StatusConflict)
		resp, body = admin(t, e, "PATCH", "/users/carol", `{"disabled":false}`)
		wantStatus(t, resp, body, http.StatusOK)
		if got := download(t, e, tok.Token, "x.txt"); string(got) != "carol's" {
			t.Errorf("after enabling again: %q", got)
		}

		// With a second administrator, the first may step down.
		resp, body = admin(t, e, "PATCH", "/users/dave", `{"admin":true}`)
		wantStatus(t, resp, body, http.StatusOK)
		resp, body = admin(t, e, "PATCH", "/users/admin", `{"disabled":true}`)
		wantStatus(t, resp, body, http.StatusOK)
		resp, body = admin(t, e, "GET", "/users", "")
		wantProblem(t, resp, body, http.StatusUnauthorized)
	})
}

func listUsers(t testing.TB, e *testenv.Env) []string {
	t.Helper()
	resp, body := admin(t, e, "GET", "/users", "")
	wantStatus(t, resp, body, http.StatusOK)
	var out struct{ Users []userOut }
	decode(t, body, &out)
	var names []string
	for _, u := range out.Users {
		names = append(names, u.Name)
	}
	return names
}

// TestSharing sets up groups, a shared folder and grants through the API and checks
// what the grantees can then do.
func TestSharing(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		alice := e.User(t, "alice", 0)
		bob := e.User(t, "bob", 0)
		carol := e.User(t, "carol", 0)
		ok := func(method, path, body string, status int) []byte {
			t.Helper()
			resp, b := admin(t, e, method, path, body)
			wantStatus(t, resp, b, status)
			return b
		}
		ok("POST", "/folders", `{"name":"Projects","quota_bytes":100}`, http.StatusCreated)
		ok("POST", "/groups", `{"name":"eng"}`, http.StatusCreated)
		ok("PUT", "/groups/eng/members/carol", "", http.StatusNoContent)
		ok("PUT", "/groups/eng/members/alice", "", http.StatusNoContent)
		ok("DELETE", "/groups/eng/members/alice", "", http.StatusNoContent)
		ok("PUT", "/grants", `{"folder":"Projects","group":"eng","perms":["list","read","write","delete"]}`, http.StatusNoContent)
		ok("PUT", "/grants", `{"folder":"Projects","user":"alice","perms":["all"]}`, http.StatusNoContent)
		ok("PUT", "/grants", `{"folder":"Projects","user":"bob","perms":["list","read"]}`, http.StatusNoContent)

		if b := ok("GET", "/groups", "", http.StatusOK); !strings.Contains(string(b), `"members": [`+"\n"+`        "carol"`+"\n") {
			t.Errorf("groups: %s", b)
		}
		if b := ok("GET", "/folders", "", http.StatusOK); !strings.Contains(string(b), `"name": "Projects"`) {
			t.Errorf("folders: %s", b)
		}
		var grants struct {
			Grants []struct {
				Folder, User, Group string
				Perms               []string
			}
		}
		decode(t, ok("GET", "/grants?folder=Projects", "", http.StatusOK), &grants)
		got := map[string]string{}
		for _, g := range grants.Grants {
			got[g.User+g.Group] = strings.Join(g.Perms, ",")
		}
		if want := map[string]string{"eng": "list,read,write,delete", "alice": "list,read,write,delete", "bob": "list,read"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("grants %v, want %v", got, want)
		}

		upload(t, e, alice, "Projects/plan.txt", []byte("the plan"))
		upload(t, e, carol, "Projects/carol.txt", []byte("c"))

		// bob sees the folder, can read, but not write or delete.
		root := list(t, e, bob, "/")
		if len(root.Entries) != 1 || root.Entries[0].Name != "Projects" || !root.Entries[0].Shared || !slices.Equal(root.Entries[0].Perms, []string{"list", "read"}) {
			t.Errorf("bob's root: %+v", root.Entries)
		}
		if !slices.Equal(names(list(t, e, bob, "Projects")), []string{"carol.txt", "plan.txt"}) {
			t.Errorf("bob lists %v", names(list(t, e, bob, "Projects")))
		}
		if got := download(t, e, bob, "Projects/plan.txt"); string(got) != "the plan" {
			t.Errorf("bob downloads %q", got)
		}
		resp, body := put(t, e, bob, "Projects/plan.txt", []byte("bob's plan"))
		wantProblem(t, resp, body, http.StatusForbidden)
		resp, body = put(t, e, bob, "Projects/new.txt", []byte("bob's"))
		wantProblem(t, resp, body, http.StatusForbidden)
		resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/files/Projects/plan.txt", Token: bob})
		wantProblem(t, resp, body, http.StatusForbidden)
		resp, body = e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/dirs/Projects/sub", Token: bob})
		wantProblem(t, resp, body, http.StatusForbidden)
		if got := download(t, e, alice, "Projects/plan.txt"); string(got) != "the plan" {
			t.Errorf("after bob's refused writes: %q", got)
		}
		wantAbsent(t, e, alice, "Projects/new.txt")

		// The folder's quota holds for everyone who writes to it.
		resp, body = put(t, e, carol, "Projects/big.bin", make([]byte, 100))
		wantProblem(t, resp, body, http.StatusInsufficientStorage)
		ok("PATCH", "/folders/Projects", `{"quota_bytes":1000}`, http.StatusNoContent)
		upload(t, e, carol, "Projects/big.bin", make([]byte, 100))

		// Revoking with an empty list: bob no longer sees the folder or its files.
		ok("PUT", "/grants", `{"folder":"Projects","user":"bob","perms":[]}`, http.StatusNoContent)
		if l := list(t, e, bob, "/"); len(l.Entries) != 0 {
			t.Errorf("bob's root after the revocation: %v", names(l))
		}
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/Projects/plan.txt", Token: bob})
		wantProblem(t, resp, body, http.StatusNotFound)
		// carol loses access with her group.
		ok("DELETE", "/groups/eng", "", http.StatusNoContent)
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/Projects/plan.txt", Token: carol})
		wantProblem(t, resp, body, http.StatusNotFound)

		for _, tc := range []struct {
			name, method, path, body string
			status                   int
		}{
			{"folder exists", "POST", "/folders", `{"name":"Projects"}`, http.StatusConflict},
			{"folder name with slash", "POST", "/folders", `{"name":"a/b"}`, http.StatusBadRequest},
			{"folder name ..", "POST", "/folders", `{"name":".."}`, http.StatusBadRequest},
			{"folder negative quota", "POST", "/folders", `{"name":"Neg","quota_bytes":-1}`, http.StatusBadRequest},
			{"patch missing folder", "PATCH", "/folders/Nope", `{"quota_bytes":1}`, http.StatusNotFound},
			{"patch nothing", "PATCH", "/folders/Projects", `{}`, http.StatusBadRequest},
			{"group exists", "POST", "/groups", `{"name":"ops"}`, http.StatusCreated},
			{"group exists again", "POST", "/groups", `{"name":"ops"}`, http.StatusConflict},
			{"bad group name", "POST", "/groups", `{"name":"Ops!"}`, http.StatusBadRequest},
			{"delete missing group", "DELETE", "/groups/nope", "", http.StatusNotFound},
			{"member of missing group", "PUT", "/groups/nope/members/bob", "", http.StatusNotFound},
			{"missing member", "PUT", "/groups/ops/members/nobody", "", http.StatusNotFound},
			{"remove non-member", "DELETE", "/groups/ops/members/bob", "", http.StatusNotFound},
			{"grant unknown perm", "PUT", "/grants", `{"folder":"Projects","user":"bob","perms":["root"]}`, http.StatusBadRequest},
			{"grant to both", "PUT", "/grants", `{"folder":"Projects","user":"bob","group":"ops","perms":["list"]}`, http.StatusBadRequest},
			{"grant to nobody", "PUT", "/grants", `{"folder":"Projects","perms":["list"]}`, http.StatusBadRequest},
			{"grant on missing folder", "PUT", "/grants", `{"folder":"Nope","user":"bob","perms":["list"]}`, http.StatusNotFound},
			{"grant to missing user", "PUT", "/grants", `{"folder":"Projects","user":"nobody","perms":["list"]}`, http.StatusNotFound},
			{"revoke what was never granted", "PUT", "/grants", `{"folder":"Projects","user":"bob","perms":[]}`, http.StatusNotFound},
			{"grants of missing folder", "GET", "/grants?folder=Nope", "", http.StatusNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := admin(t, e, tc.method, tc.path, tc.body)
				if tc.status < 300 {
					wantStatus(t, resp, body, tc.status)
					return
				}
				wantProblem(t, resp, body, tc.status)
			})
		}
		if l := list(t, e, bob, "/"); len(l.Entries) != 0 {
			t.Errorf("refused grants gave bob %v", names(l))
		}
	})
}

func TestAudit(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		alice := e.User(t, "alice", 0)
		for i := range 5 {
			upload(t, e, alice, fmt.Sprintf("f%d", i), []byte("x"))
		}
		resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/missing", Token: alice})
		wantProblem(t, resp, body, http.StatusNotFound)

		recs := auditLog(t, e, "actor=alice&action=file.upload")
		if len(recs) != 5 {
			t.Fatalf("%d upload records for alice, want 5: %+v", len(recs), recs)
		}
		for i, r := range recs {
			if r.Actor != "alice" || r.Action != "file.upload" || r.Result != "ok" || r.Bytes != 1 || r.SourceIP != "127.0.0.1" {
				t.Errorf("record %+v", r)
			}
			if i > 0 && r.Seq >= recs[i-1].Seq {
				t.Errorf("records not newest first: %d after %d", r.Seq, recs[i-1].Seq)
			}
		}
		if recs := auditLog(t, e, "actor=alice&action=file.download"); len(recs) != 1 || recs[0].Result != "error" || recs[0].Path != "/missing" {
			t.Errorf("the failed download is recorded as %+v", recs)
		}
		if recs := auditLog(t, e, "path=f3"); len(recs) != 1 || recs[0].Path != "/f3" {
			t.Errorf("path filter: %+v", recs)
		}
		if recs := auditLog(t, e, "since=2999-01-01T00:00:00Z"); len(recs) != 0 {
			t.Errorf("records from the future: %+v", recs)
		}

		// Paging through everything with a small limit gives every record once.
		all := auditLog(t, e, "")
		var paged []int64
		cursor := ""
		for range len(all) + 1 {
			resp, body := admin(t, e, "GET", "/audit?limit=2&cursor="+cursor, "")
			wantStatus(t, resp, body, http.StatusOK)
			var page struct {
				Records    []auditRecord `json:"records"`
				NextCursor string        `json:"next_cursor"`
			}
			decode(t, body, &page)
			for _, r := range page.Records {
				paged = append(paged, r.Seq)
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		// The administrator's own queries above are not audited, so the log stood still.
		var want []int64
		for _, r := range all {
			want = append(want, r.Seq)
		}
		if len(want) < 8 || !slices.Equal(paged, want) {
			t.Errorf("paged %v, want %v", paged, want)
		}

		for _, q := range []string{"cursor=abc", "cursor=0", "since=yesterday", "until=2026"} {
			resp, body := admin(t, e, "GET", "/audit?"+q, "")
			wantProblem(t, resp, body, http.StatusBadRequest)
		}

		resp, body = admin(t, e, "GET", "/audit/verify", "")
		wantStatus(t, resp, body, http.StatusOK)
		var v struct {
			OK      bool   `json:"ok"`
			Records int64  `json:"records"`
			HeadSeq int64  `json:"head_seq"`
			Head    string `json:"head"`
			Problem string `json:"problem"`
		}
		decode(t, body, &v)
		if !v.OK || v.Records < int64(len(all)) || v.HeadSeq != all[0].Seq || len(v.Head) != 64 || v.Problem != "" {
			t.Errorf("verify: %s", body)
		}
	})
}

// TestAdminForbidden calls every administrator endpoint as a regular user: each must
// answer 403 and change nothing.
func TestAdminForbidden(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	bob := e.User(t, "bob", 0)
	e.User(t, "victim", 0)
	resp, body := admin(t, e, "POST", "/groups", `{"name":"eng"}`)
	wantStatus(t, resp, body, http.StatusCreated)
	resp, body = admin(t, e, "POST", "/folders", `{"name":"Shared"}`)
	wantStatus(t, resp, body, http.StatusCreated)

	calls := map[route]struct{ path, body string }{
		{"GET", "/admin/users"}:                              {"/admin/users", ""},
		{"POST", "/admin/users"}:                             {"/admin/users", `{"name":"mallory","password":"a-long-password-for-mallory","admin":true}`},
		{"GET", "/admin/users/{name}"}:                       {"/admin/users/victim", ""},
		{"PATCH", "/admin/users/{name}"}:                     {"/admin/users/bob", `{"admin":true}`},
		{"GET", "/admin/users/{name}/tokens"}:                {"/admin/users/victim/tokens", ""},
		{"POST", "/admin/users/{name}/tokens"}:               {"/admin/users/victim/tokens", `{}`},
		{"GET", "/admin/groups"}:                             {"/admin/groups", ""},
		{"POST", "/admin/groups"}:                            {"/admin/groups", `{"name":"mallory"}`},
		{"DELETE", "/admin/groups/{name}"}:                   {"/admin/groups/eng", ""},
		{"PUT", "/admin/groups/{name}/members/{user}"}:       {"/admin/groups/eng/members/bob", ""},
		{"DELETE", "/admin/groups/{name}/members/{user}"}:    {"/admin/groups/eng/members/bob", ""},
		{"GET", "/admin/folders"}:                            {"/admin/folders", ""},
		{"POST", "/admin/folders"}:                           {"/admin/folders", `{"name":"Loot"}`},
		{"PATCH", "/admin/folders/{name}"}:                   {"/admin/folders/Shared", `{"quota_bytes":1}`},
		{"GET", "/admin/grants"}:                             {"/admin/grants", ""},
		{"PUT", "/admin/grants"}:                             {"/admin/grants", `{"folder":"Shared","user":"bob","perms":["all"]}`},
		{"GET", "/admin/audit"}:                              {"/admin/audit", ""},
		{"GET", "/admin/audit/verify"}:                       {"/admin/audit/verify", ""},
		{"DELETE", "/admin/lockouts/{scope}/{subject}"}:      {"/admin/lockouts/ip/127.0.0.1", ""},
		{"GET", "/admin/bans"}:                               {"/admin/bans", ""},
		{"DELETE", "/admin/bans/{ip}"}:                       {"/admin/bans/127.0.0.1", ""},
		{"GET", "/admin/users/{name}/keys"}:                  {"/admin/users/victim/keys", ""},
		{"POST", "/admin/users/{name}/keys"}:                 {"/admin/users/victim/keys", `{"public_key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ6Ek6Crz6hJyQvdDRMNvDy3Dt9vGeWsLnKMl2a7bH+Y x"}`},
		{"DELETE", "/admin/users/{name}/keys/{fingerprint}"}: {"/admin/users/victim/keys/SHA256:x", ""},
		{"GET", "/admin/alerts"}:                             {"/admin/alerts", ""},
		{"POST", "/admin/alerts/{id}/ack"}:                   {"/admin/alerts/1/ack", ""},
		{"DELETE", "/admin/suspensions/{name}"}:              {"/admin/suspensions/victim", ""},
		{"GET", "/admin/canaries"}:                           {"/admin/canaries", ""},
		{"PUT", "/admin/canaries"}:                           {"/admin/canaries", `{"user":"victim","path":"/a"}`},
		{"DELETE", "/admin/canaries"}:                        {"/admin/canaries", `{"user":"victim","path":"/a"}`},
		{"POST", "/admin/decoys"}:                            {"/admin/decoys?user=victim&path=/bait", `{"bait":1}`},
	}
	for _, r := range sourceRoutes(t) {
		if !strings.HasPrefix(r.pattern, "/admin/") {
			continue
		}
		c, ok := calls[r]
		if !ok {
			t.Errorf("administrator route %s is not tested here: add it", r)
			continue
		}
		t.Run(r.String(), func(t *testing.T) {
			req := testenv.Request{Method: r.method, Path: "/api/v1" + c.path, Token: bob}
			if c.body != "" {
				req.Body, req.Header = bytes.NewReader([]byte(c.body)), http.Header{"Content-Type": {"application/json"}}
			}
			resp, body := e.Do(t, req)
			p := wantProblem(t, resp, body, http.StatusForbidden)
			if strings.Contains(p.Detail, "victim") || strings.Contains(p.Detail, "Shared") {
				t.Errorf("the refusal tells more than that: %q", p.Detail)
			}
		})
	}

	// Nothing changed.
	if users := listUsers(t, e); !slices.Equal(users, []string{"admin", "bob", "victim"}) {
		t.Errorf("users %v", users)
	}
	for path, want := range map[string]string{"/groups": `"members": []`, "/folders": `"quota_bytes": 0`, "/grants": `"grants": []`} {
		resp, body := admin(t, e, "GET", path, "")
		wantStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(string(body), want) || strings.Contains(string(body), "mallory") || strings.Contains(string(body), "Loot") {
			t.Errorf("%s after the refused calls: %s", path, body)
		}
	}
	resp, body = admin(t, e, "GET", "/users/victim/tokens", "")
	wantStatus(t, resp, body, http.StatusOK)
	if n := strings.Count(string(body), `"id"`); n != 1 {
		t.Errorf("victim has %d tokens, want 1", n)
	}
	denied := 0
	for _, r := range auditLog(t, e, "actor=bob") {
		if r.Result == "denied" {
			denied++
		}
	}
	if denied != len(calls) {
		t.Errorf("only %d of bob's %d refused calls are audited as denied", denied, len(calls))
	}
}
