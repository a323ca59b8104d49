package api_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/testenv"
)

// TestUploadOverQuota checks that an upload that cannot fit is refused, before its body
// is read when its length is announced, and leaves nothing behind either way.
func TestUploadOverQuota(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 1000)
		upload(t, e, tok, "small.bin", make([]byte, 400))

		// Only the headers are sent: a server that waited for the body would never answer.
		// (For a small body sent without Expect: 100-continue, net/http reads the rest of
		// it, up to 256 KiB, after the handler so as to keep the connection; that is not
		// the handler consuming it.)
		for _, tc := range []struct{ name, headers string }{
			{"announced length, expecting 100-continue", "Content-Length: 2000\r\nExpect: 100-continue\r\n"},
			{"announced length, 10 MB", "Content-Length: 10000000\r\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				conn := dialHTTP1(t, e)
				conn.SetDeadline(time.Now().Add(20 * time.Second))
				fmt.Fprintf(conn, "PUT /api/v1/files/big.bin HTTP/1.1\r\nHost: coffer\r\nAuthorization: Bearer %s\r\n%s\r\n", tok, tc.headers)
				req := &http.Request{Method: "PUT", URL: &url.URL{Path: "/api/v1/files/big.bin"}}
				resp, err := http.ReadResponse(bufio.NewReader(conn), req)
				if err != nil {
					t.Fatalf("no answer before the body was sent: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				p := wantProblem(t, resp, b, http.StatusInsufficientStorage)
				if !strings.Contains(p.Detail, "400 of 1000 bytes") {
					t.Errorf("detail %q does not say how much is used", p.Detail)
				}
			})
		}
		t.Run("unknown length", func(t *testing.T) {
			resp, body := e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/files/chunked.bin", Token: tok,
				Body: io.MultiReader(bytes.NewReader(make([]byte, 700))), BodyLen: -1})
			wantProblem(t, resp, body, http.StatusInsufficientStorage)
		})
		t.Run("unknown length, endless", func(t *testing.T) {
			// A chunked body is cut off once it passes the quota, not stored whole first.
			var sent atomic.Int64
			const limit = 1 << 30
			body := readerFunc(func(p []byte) (int, error) {
				if sent.Load() >= limit {
					return 0, io.EOF
				}
				clear(p)
				sent.Add(int64(len(p)))
				return len(p), nil
			})
			req, _ := http.NewRequest("PUT", e.URL+"/api/v1/files/endless.bin", body)
			req.ContentLength = -1
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := e.Client.Do(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				wantProblem(t, resp, b, http.StatusInsufficientStorage)
			}
			if n := sent.Load(); n > 64<<20 {
				t.Errorf("the server took %d MiB of a body over a 1000-byte quota", n>>20)
			}
		})
		t.Run("replacing", func(t *testing.T) {
			// Replacing small.bin frees its 400 bytes: 1000 fit, 1001 do not.
			resp, body := put(t, e, tok, "small.bin", make([]byte, 1001))
			wantProblem(t, resp, body, http.StatusInsufficientStorage)
			upload(t, e, tok, "small.bin", make([]byte, 1000))
			upload(t, e, tok, "small.bin", make([]byte, 400))
		})

		wantAbsent(t, e, tok, "big.bin")
		wantAbsent(t, e, tok, "chunked.bin")
		wantAbsent(t, e, tok, "endless.bin")
		if used, _ := me(t, e, tok); used != 400 {
			t.Errorf("used %d, want 400", used)
		}
		eventually(t, 10*time.Second, func() string {
			if fs := blobFiles(t, e); len(fs) != 0 {
				return fmt.Sprintf("blob files %v, want none (small.bin's payload is in its row)", fs)
			}
			if p := pendingBlobs(t, e); len(p) != 0 {
				return fmt.Sprintf("pending uploads %v", p)
			}
			return ""
		})
	})
}

func TestUploadDigest(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		content := []byte("the content as sent")
		other := reprDigest([]byte("something else"))
		for _, tc := range []struct {
			name   string
			header http.Header
			status int
		}{
			{"Repr-Digest mismatch", http.Header{"Repr-Digest": {other}}, http.StatusUnprocessableEntity},
			{"Content-Digest mismatch", http.Header{"Content-Digest": {other}}, http.StatusUnprocessableEntity},
			{"mismatch among others", http.Header{"Repr-Digest": {"sha-512=:AAAA:, " + other}}, http.StatusUnprocessableEntity},
			{"the two disagree", http.Header{"Repr-Digest": {other}, "Content-Digest": {reprDigest(content)}}, http.StatusBadRequest},
			{"the two disagree, other order", http.Header{"Repr-Digest": {reprDigest(content)}, "Content-Digest": {other}}, http.StatusBadRequest},
			{"no colons", http.Header{"Repr-Digest": {"sha-256=abc"}}, http.StatusBadRequest},
			{"not base64", http.Header{"Repr-Digest": {"sha-256=:!!!!:"}}, http.StatusBadRequest},
			{"too short", http.Header{"Repr-Digest": {"sha-256=:AAAA:"}}, http.StatusBadRequest},
			{"hex instead of base64", http.Header{"Repr-Digest": {"sha-256=:" + strings.Repeat("ab", 32) + ":"}}, http.StatusBadRequest},
			{"not a dictionary", http.Header{"Repr-Digest": {"garbage"}}, http.StatusBadRequest},
			{"malformed Content-Digest", http.Header{"Content-Digest": {"sha-256=:x:"}}, http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				path := strings.ReplaceAll(tc.name, " ", "-")
				resp, body := e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/files/" + path, Token: tok, Header: tc.header, Body: bytes.NewReader(content)})
				wantProblem(t, resp, body, tc.status)
				wantAbsent(t, e, tok, path)
			})
		}
		resp, body := e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/files/both-right", Token: tok,
			Header: http.Header{"Repr-Digest": {reprDigest(content)}, "Content-Digest": {reprDigest(content)}}, Body: bytes.NewReader(content)})
		wantStatus(t, resp, body, http.StatusCreated)
		if used, _ := me(t, e, tok); used != int64(len(content)) {
			t.Errorf("used %d: refused uploads were charged", used)
		}
		eventually(t, 10*time.Second, func() string {
			if fs := blobFiles(t, e); len(fs) != 0 {
				return fmt.Sprintf("blob files %v, want none (a small file's payload is in its row)", fs)
			}
			return ""
		})
	})
}

// TestUploadDisconnect cuts uploads off half-way, in each way a client can, once the
// server is storing them: no file appears and no data is left behind.
func TestUploadDisconnect(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		part := bytes.Repeat([]byte("partial upload "), 20_000) // 300 kB
		for _, tc := range []struct {
			name string
			cut  func(t *testing.T, path string, storing func() bool)
		}{
			{"HTTP/1.1 with Content-Length, connection closed", func(t *testing.T, path string, storing func() bool) {
				conn := dialHTTP1(t, e)
				fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: coffer\r\nAuthorization: Bearer %s\r\nContent-Length: 10000000\r\n\r\n", path, tok)
				conn.Write(part)
				eventually(t, 10*time.Second, func() string { return yes(storing(), "the server is not storing the upload") })
				conn.Close()
			}},
			{"HTTP/1.1 chunked, connection closed", func(t *testing.T, path string, storing func() bool) {
				conn := dialHTTP1(t, e)
				fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: coffer\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n", path, tok)
				fmt.Fprintf(conn, "%x\r\n%s\r\n", len(part), part)
				eventually(t, 10*time.Second, func() string { return yes(storing(), "the server is not storing the upload") })
				conn.Close()
			}},
			{"HTTP/1.1 chunked, malformed chunk", func(t *testing.T, path string, storing func() bool) {
				conn := dialHTTP1(t, e)
				fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: coffer\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n", path, tok)
				fmt.Fprintf(conn, "%x\r\n%s\r\n", len(part), part)
				eventually(t, 10*time.Second, func() string { return yes(storing(), "the server is not storing the upload") })
				fmt.Fprintf(conn, "zz\r\nnot a chunk\r\n")
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				req := &http.Request{Method: "PUT", URL: &url.URL{Path: path}}
				resp, err := http.ReadResponse(bufio.NewReader(conn), req)
				if err != nil {
					t.Fatalf("no answer to a malformed chunk: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				wantProblem(t, resp, b, http.StatusBadRequest)
				conn.Close()
			}},
			{"Go client, body fails", func(t *testing.T, path string, storing func() bool) {
				body := io.MultiReader(bytes.NewReader(part), readerFunc(func([]byte) (int, error) {
					for !storing() {
						time.Sleep(5 * time.Millisecond)
					}
					return 0, errors.New("the client gave up")
				}))
				req, _ := http.NewRequest("PUT", e.URL+path, body)
				req.ContentLength = 10_000_000
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := e.Client.Do(req)
				if err == nil {
					resp.Body.Close()
					t.Errorf("an aborted upload was answered %d", resp.StatusCode)
				}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				name := strings.NewReplacer(" ", "-", "/", "-", ",", "").Replace(tc.name)
				storing := func() bool { return e.Writing(t) }
				tc.cut(t, "/api/v1/files/"+name, storing)
				eventually(t, 10*time.Second, func() string {
					recs := auditLog(t, e, "action=file.upload&path="+name)
					if len(recs) != 1 || recs[0].Result != "error" {
						return fmt.Sprintf("the upload is not recorded as failed: %+v", recs)
					}
					if fs := blobFiles(t, e); len(fs) != 0 {
						return fmt.Sprintf("blob files left: %v", fs)
					}
					if p := pendingBlobs(t, e); len(p) != 0 {
						return fmt.Sprintf("pending uploads left: %v", p)
					}
					return ""
				})
				wantAbsent(t, e, tok, name)
			})
		}
		if used, _ := me(t, e, tok); used != 0 {
			t.Errorf("used %d after only failed uploads", used)
		}
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func yes(ok bool, why string) string {
	if ok {
		return ""
	}
	return why
}

// dialHTTP1 opens a TLS connection to the server that speaks HTTP/1.1.
func dialHTTP1(t *testing.T, e *testenv.Env) *tls.Conn {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CertPEM)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(e.URL, "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
