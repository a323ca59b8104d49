package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// eachServer runs fn against a fresh server on every available database dialect, as
// parallel subtests named "sqlite" and "postgres".
func eachServer(t *testing.T, fn func(t *testing.T, e *testenv.Env)) {
	t.Helper()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		if !strings.HasPrefix(dsn, "postgres") {
			dsn = "" // SQLite inside the data directory, so that at-rest checks see it
		}
		fn(t, testenv.New(t, testenv.Options{DSN: dsn}))
	})
}

// problem is an RFC 9457 problem details object as clients see it.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
}

// wantProblem checks that a response is the problem+json answer with the given status
// and a detail a person can act on, and returns it.
func wantProblem(t testing.TB, resp *http.Response, body []byte, status int) problem {
	t.Helper()
	var p problem
	if resp.StatusCode != status {
		t.Errorf("%s %s: status %d, want %d; body %.300s", resp.Request.Method, resp.Request.URL, resp.StatusCode, status, body)
		return p
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s %s: Content-Type %q, want application/problem+json", resp.Request.Method, resp.Request.URL, ct)
	}
	if resp.Request.Method == http.MethodHead {
		return p
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Errorf("%s %s: problem body is not JSON: %v: %.300s", resp.Request.Method, resp.Request.URL, err, body)
		return p
	}
	if p.Status != status || p.Title == "" || p.Detail == "" || !strings.HasPrefix(p.Type, "urn:coffer:problem:") {
		t.Errorf("%s %s: incomplete problem %+v", resp.Request.Method, resp.Request.URL, p)
	}
	return p
}

// wantStatus fails the test unless resp has status code.
func wantStatus(t testing.TB, resp *http.Response, body []byte, code int) {
	t.Helper()
	if resp.StatusCode != code {
		t.Fatalf("%s %s: status %d, want %d; body %.500s", resp.Request.Method, resp.Request.URL, resp.StatusCode, code, body)
	}
}

// decode unmarshals a JSON response body into v.
func decode(t testing.TB, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("response is not the expected JSON: %v: %.500s", err, body)
	}
}

// entry is a file or directory in API responses.
type entry struct {
	Name     string    `json:"name"`
	Path     string    `json:"path"`
	Type     string    `json:"type"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	SHA256   string    `json:"sha256"`
	Shared   bool      `json:"shared"`
	Perms    []string  `json:"perms"`
}

type listing struct {
	Path       string  `json:"path"`
	Entries    []entry `json:"entries"`
	NextCursor string  `json:"next_cursor"`
}

// put uploads content to the API path (below /api/v1/files) as the owner of tok.
func put(t testing.TB, e *testenv.Env, tok, path string, content []byte) (*http.Response, []byte) {
	t.Helper()
	return e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/files/" + strings.TrimPrefix(path, "/"), Token: tok, Body: bytes.NewReader(content)})
}

// upload stores content at path and fails the test unless that worked.
func upload(t testing.TB, e *testenv.Env, tok, path string, content []byte) entry {
	t.Helper()
	resp, body := put(t, e, tok, path, content)
	wantStatus(t, resp, body, http.StatusCreated)
	var out entry
	decode(t, body, &out)
	return out
}

// download fetches a file and fails the test unless that worked.
func download(t testing.TB, e *testenv.Env, tok, path string) []byte {
	t.Helper()
	resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/" + strings.TrimPrefix(path, "/"), Token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	return body
}

// list lists a directory (one page of at most limit entries after cursor).
func list(t testing.TB, e *testenv.Env, tok, path string) listing {
	t.Helper()
	resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/dirs/" + strings.TrimPrefix(path, "/"), Token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	var l listing
	decode(t, body, &l)
	return l
}

func names(l listing) []string {
	out := make([]string, 0, len(l.Entries))
	for _, e := range l.Entries {
		out = append(out, e.Name)
	}
	return out
}

// wantAbsent checks, as the owner of tok, that nothing exists at path.
func wantAbsent(t testing.TB, e *testenv.Env, tok, path string) {
	t.Helper()
	resp, body := e.Do(t, testenv.Request{Method: "HEAD", Path: "/api/v1/files/" + strings.TrimPrefix(path, "/"), Token: tok})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD %s: status %d, want 404 (nothing should be visible); %s", path, resp.StatusCode, body)
	}
}

// me returns GET /me.
func me(t testing.TB, e *testenv.Env, tok string) (used, quota int64) {
	t.Helper()
	resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/me", Token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	var m struct {
		UsedBytes  int64 `json:"used_bytes"`
		QuotaBytes int64 `json:"quota_bytes"`
	}
	decode(t, body, &m)
	return m.UsedBytes, m.QuotaBytes
}

func reprDigest(content []byte) string {
	sum := sha256.Sum256(content)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// auditRecord is one record of GET /admin/audit.
type auditRecord struct {
	Seq      int64  `json:"seq"`
	Actor    string `json:"actor"`
	SourceIP string `json:"source_ip"`
	Action   string `json:"action"`
	Path     string `json:"path"`
	Target   string `json:"target"`
	Bytes    int64  `json:"bytes"`
	Result   string `json:"result"`
	Detail   string `json:"detail"`
}

// auditLog returns the audit records the query (e.g. "action=file.upload") selects,
// newest first, as the administrator sees them.
func auditLog(t testing.TB, e *testenv.Env, filter string) []auditRecord {
	t.Helper()
	resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/admin/audit?limit=1000&" + filter, Token: e.AdminToken})
	wantStatus(t, resp, body, http.StatusOK)
	var out struct {
		Records []auditRecord `json:"records"`
	}
	decode(t, body, &out)
	return out.Records
}

// blobFiles lists the regular files in the blob store (committed and temporary).
func blobFiles(t testing.TB, e *testenv.Env) []string {
	t.Helper()
	return e.Blobs(t)
}

// pendingBlobs lists the uploads the database still records as in progress.
func pendingBlobs(t testing.TB, e *testenv.Env) []string {
	t.Helper()
	ids, err := e.Core.DB.Q().PendingBefore(context.Background(), time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// eventually polls cond until it returns "" or the deadline passes, then fails with the
// last explanation cond gave.
func eventually(t testing.TB, within time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still, after %s: %s", within, why)
		}
		time.Sleep(wait)
	}
}

// rawGet is a GET whose body read errors are returned rather than fatal: for responses
// that may legitimately break off.
func rawGet(t testing.TB, e *testenv.Env, tok, path string, hdr http.Header) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest("GET", e.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.Client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// fileContains reports whether the file at path holds needle, reading it in pieces.
func fileContains(path string, needle []byte) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20+len(needle))
	carry := 0
	for {
		n, err := io.ReadFull(f, buf[carry:])
		if bytes.Contains(buf[:carry+n], needle) {
			return true, nil
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		carry = copy(buf, buf[carry+n-(len(needle)-1):carry+n])
	}
}
