package api_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/testenv"
)

func tusHeader(kv ...string) http.Header {
	h := http.Header{"Tus-Resumable": {"1.0.0"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// tusCreate creates an upload of length bytes at path and returns its URL path.
func tusCreate(t *testing.T, e *testenv.Env, token, path string, length int, extra string) string {
	t.Helper()
	meta := "path " + b64(path)
	if extra != "" {
		meta += "," + extra
	}
	resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: token,
		Header: tusHeader("Upload-Length", strconv.Itoa(length), "Upload-Metadata", meta)})
	wantStatus(t, resp, body, http.StatusCreated)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/api/v1/uploads/") || resp.Header.Get("Tus-Resumable") != "1.0.0" || resp.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("create: Location %q, headers %v", loc, resp.Header)
	}
	return loc
}

func tusOffset(t *testing.T, e *testenv.Env, token, loc string) int {
	t.Helper()
	resp, body := e.Do(t, testenv.Request{Method: "HEAD", Path: loc, Token: token, Header: tusHeader()})
	wantStatus(t, resp, body, http.StatusOK)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("HEAD of an upload may be cached: %q", resp.Header.Get("Cache-Control"))
	}
	n, err := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	if err != nil {
		t.Fatalf("Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}
	return n
}

func tusPatch(t *testing.T, e *testenv.Env, token, loc string, off int, piece []byte) *http.Response {
	t.Helper()
	resp, body := e.Do(t, testenv.Request{Method: "PATCH", Path: loc, Token: token, Body: bytes.NewReader(piece),
		Header: tusHeader("Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(off))})
	wantStatus(t, resp, body, http.StatusNoContent)
	return resp
}

func TestTusUpload(t *testing.T) {
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		alice := e.User(t, "alice", 0)
		bob := e.User(t, "bob", 0)
		data := make([]byte, 300_000)
		rand.Read(data)
		sum := sha256.Sum256(data)

		// Discovery needs no token.
		resp, body := e.Do(t, testenv.Request{Method: "OPTIONS", Path: "/api/v1/uploads"})
		wantStatus(t, resp, body, http.StatusNoContent)
		if resp.Header.Get("Tus-Version") != "1.0.0" || !strings.Contains(resp.Header.Get("Tus-Extension"), "creation") {
			t.Errorf("OPTIONS headers %v", resp.Header)
		}

		loc := tusCreate(t, e, alice, "/lab/results ✓.bin", len(data), "sha256 "+b64(hex.EncodeToString(sum[:])))
		if n := tusOffset(t, e, alice, loc); n != 0 {
			t.Fatalf("new upload at offset %d", n)
		}
		// Only alice can see or touch it.
		resp, body = e.Do(t, testenv.Request{Method: "HEAD", Path: loc, Token: bob, Header: tusHeader()})
		wantStatus(t, resp, body, http.StatusNotFound)
		resp, body = e.Do(t, testenv.Request{Method: "PATCH", Path: loc, Token: bob, Body: bytes.NewReader(data),
			Header: tusHeader("Content-Type", "application/offset+octet-stream", "Upload-Offset", "0")})
		wantProblem(t, resp, body, http.StatusNotFound)

		// Pieces of odd sizes; then a piece at a stale offset is a conflict.
		off := 0
		for _, n := range []int{1, 70_000, 100_000} {
			resp := tusPatch(t, e, alice, loc, off, data[off:off+n])
			off += n
			if got := resp.Header.Get("Upload-Offset"); got != strconv.Itoa(off) {
				t.Fatalf("after a piece of %d: Upload-Offset %s, want %d", n, got, off)
			}
		}
		resp, body = e.Do(t, testenv.Request{Method: "PATCH", Path: loc, Token: alice, Body: bytes.NewReader(data[:10]),
			Header: tusHeader("Content-Type", "application/offset+octet-stream", "Upload-Offset", "0")})
		wantProblem(t, resp, body, http.StatusConflict)
		if n := tusOffset(t, e, alice, loc); n != off {
			t.Fatalf("HEAD says %d, want %d", n, off)
		}
		// Nothing is visible until the end.
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/lab/results%20%E2%9C%93.bin", Token: alice})
		wantProblem(t, resp, body, http.StatusNotFound)
		// The last piece completes the file.
		resp = tusPatch(t, e, alice, loc, off, data[off:])
		if resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) || resp.Header.Get("X-Coffer-Path") == "" {
			t.Fatalf("completion headers %v", resp.Header)
		}
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/lab/results%20%E2%9C%93.bin", Token: alice})
		wantStatus(t, resp, body, http.StatusOK)
		if !bytes.Equal(body, data) {
			t.Fatal("the file uploaded with tus reads back different bytes")
		}
		resp, body = e.Do(t, testenv.Request{Method: "HEAD", Path: loc, Token: alice, Header: tusHeader()})
		wantStatus(t, resp, body, http.StatusNotFound)
	})
}

func TestTusCreationWithUploadAndTermination(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	alice := e.User(t, "alice", 0)
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	// creation-with-upload: the first piece comes with the POST.
	resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: alice, Body: bytes.NewReader(data[:40_000]),
		Header: tusHeader("Upload-Length", strconv.Itoa(len(data)), "Upload-Metadata", "filename "+b64("a.txt")+",dir "+b64("/inbox"),
			"Content-Type", "application/offset+octet-stream")})
	wantStatus(t, resp, body, http.StatusCreated)
	loc := resp.Header.Get("Location")
	if resp.Header.Get("Upload-Offset") != "40000" {
		t.Fatalf("creation-with-upload stored %s bytes", resp.Header.Get("Upload-Offset"))
	}
	// termination
	resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: loc, Token: alice, Header: tusHeader()})
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = e.Do(t, testenv.Request{Method: "HEAD", Path: loc, Token: alice, Header: tusHeader()})
	wantStatus(t, resp, body, http.StatusNotFound)
}

// TestTusHostile sends what a scanner or attacker would.
func TestTusHostile(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	alice := e.User(t, "alice", 0)
	loc := tusCreate(t, e, alice, "/x.bin", 10, "")
	for _, tc := range []struct {
		name   string
		req    testenv.Request
		status int
	}{
		{"no token", testenv.Request{Method: "POST", Path: "/api/v1/uploads", Header: tusHeader("Upload-Length", "1", "Upload-Metadata", "path "+b64("/a"))}, 401},
		{"no Tus-Resumable", testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: alice, Header: http.Header{"Upload-Length": {"1"}}}, 412},
		{"no length", testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: alice, Header: tusHeader("Upload-Metadata", "path "+b64("/a"))}, 400},
		{"negative length", testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: alice, Header: tusHeader("Upload-Length", "-5", "Upload-Metadata", "path "+b64("/a"))}, 400},
		{"huge length", testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: alice, Header: tusHeader("Upload-Length", "99999999999999999", "Upload-Metadata", "path "+b64("/a"))}, 413},
		{"deferred length", testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: alice, Header: tusHeader("Upload-Defer-Length", "1", "Upload-Metadata", "path "+b64("/a"))}, 400},
		{"no path", testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: alice, Header: tusHeader("Upload-Length", "1")}, 400},
		{"bad base64", testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: alice, Header: tusHeader("Upload-Length", "1", "Upload-Metadata", "path !!!")}, 400},
		{"traversal", testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: alice, Header: tusHeader("Upload-Length", "1", "Upload-Metadata", "path "+b64("/../../etc/passwd"))}, 400},
		{"filename with slash", testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: alice, Header: tusHeader("Upload-Length", "1", "Upload-Metadata", "filename "+b64("../x"))}, 400},
		{"NUL in path", testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: alice, Header: tusHeader("Upload-Length", "1", "Upload-Metadata", "path "+b64("/a\x00.txt"))}, 400},
		{"bad sha256", testenv.Request{Method: "POST", Path: "/api/v1/uploads", Token: alice, Header: tusHeader("Upload-Length", "1", "Upload-Metadata", "path "+b64("/a")+",sha256 "+b64("zz"))}, 400},
		{"traversal id", testenv.Request{Method: "HEAD", Path: "/api/v1/uploads/..%2f..%2fetc", Token: alice, Header: tusHeader()}, 400},
		{"malformed id", testenv.Request{Method: "HEAD", Path: "/api/v1/uploads/' OR 1=1--", Token: alice, Header: tusHeader()}, 404},
		{"unknown id", testenv.Request{Method: "HEAD", Path: "/api/v1/uploads/" + strings.Repeat("a", 32), Token: alice, Header: tusHeader()}, 404},
		{"wrong content type", testenv.Request{Method: "PATCH", Path: loc, Token: alice, Body: strings.NewReader("x"), Header: tusHeader("Content-Type", "text/plain", "Upload-Offset", "0")}, 415},
		{"no offset", testenv.Request{Method: "PATCH", Path: loc, Token: alice, Body: strings.NewReader("x"), Header: tusHeader("Content-Type", "application/offset+octet-stream")}, 400},
		{"too long", testenv.Request{Method: "PATCH", Path: loc, Token: alice, Body: strings.NewReader("01234567890"), Header: tusHeader("Content-Type", "application/offset+octet-stream", "Upload-Offset", "0")}, 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.Do(t, tc.req)
			if tc.req.Method == "HEAD" {
				wantStatus(t, resp, body, tc.status)
				return
			}
			wantProblem(t, resp, body, tc.status)
		})
	}
	// After all that, the upload still works.
	tusPatch(t, e, alice, loc, 0, []byte("0123456789"))
	resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/x.bin", Token: alice})
	wantStatus(t, resp, body, http.StatusOK)
	if string(body) != "0123456789" {
		t.Fatalf("got %q", body)
	}
}

// TestTusResumeAfterCut: a PATCH cut by the network keeps what arrived; HEAD tells where
// to go on, and the upload completes from there.
func TestTusResumeAfterCut(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	alice := e.User(t, "alice", 0)
	data := make([]byte, 1<<20)
	rand.Read(data)
	loc := tusCreate(t, e, alice, "/big.bin", len(data), "")
	// A raw connection, so that exactly 400,000 bytes of the body reach the server before
	// the connection closes.
	u, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, e.Client.Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n", loc, u.Host, alice, len(data))
	if _, err := conn.Write(data[:400_000]); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	// The server notices the cut and keeps what arrived: HEAD (which takes no lease, so it
	// cannot race the cut request) shows it.
	deadline := time.Now().Add(20 * time.Second)
	off := tusOffset(t, e, alice, loc)
	for off == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		off = tusOffset(t, e, alice, loc)
	}
	if off != 400_000 {
		t.Fatalf("after the cut the upload holds %d bytes; want the 400000 sent", off)
	}
	tusPatch(t, e, alice, loc, off, data[off:])
	resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/big.bin", Token: alice})
	wantStatus(t, resp, body, http.StatusOK)
	if !bytes.Equal(body, data) {
		t.Fatal("the resumed file differs")
	}
}
