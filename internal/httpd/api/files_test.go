package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/testenv"
)

func TestUpload(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		content := []byte("hello, coffer\n")
		sum := sha256.Sum256(content)

		resp, body := put(t, e, tok, "a/b/c.txt", content)
		wantStatus(t, resp, body, http.StatusCreated)
		var got entry
		decode(t, body, &got)
		want := entry{Name: "c.txt", Path: "/a/b/c.txt", Type: "file", Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:]),
			Perms: []string{"list", "read", "write", "delete"}}
		got.Modified = time.Time{}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("upload answered %+v, want %+v", got, want)
		}
		for h, v := range map[string]string{
			"Location":    "/api/v1/files/a/b/c.txt",
			"ETag":        `"` + hex.EncodeToString(sum[:]) + `"`,
			"Repr-Digest": reprDigest(content),
		} {
			if resp.Header.Get(h) != v {
				t.Errorf("%s: %q, want %q", h, resp.Header.Get(h), v)
			}
		}
		// The parents were made.
		if l := list(t, e, tok, "a"); !slices.Equal(names(l), []string{"b"}) || l.Entries[0].Type != "dir" {
			t.Errorf("listing /a: %+v", l)
		}

		for _, tc := range []struct {
			name   string
			path   string
			header http.Header
			status int
		}{
			{"parents=false, missing parent", "x/y.txt?parents=false", nil, http.StatusNotFound},
			{"parents=false, existing parent", "a/b/d.txt?parents=false", nil, http.StatusCreated},
			{"parent is a file", "a/b/c.txt/e.txt", nil, http.StatusConflict},
			{"over a directory", "a/b", nil, http.StatusConflict},
			{"the root", "", nil, http.StatusConflict},
			{"correct Repr-Digest", "digest-ok.txt", http.Header{"Repr-Digest": {reprDigest(content)}}, http.StatusCreated},
			{"correct Content-Digest", "cdigest-ok.txt", http.Header{"Content-Digest": {reprDigest(content)}}, http.StatusCreated},
			{"only another algorithm", "sha512.txt", http.Header{"Repr-Digest": {"sha-512=:AAAA:"}}, http.StatusCreated},
			{"modification time", "dated.txt", http.Header{"X-Coffer-Modified": {"2020-02-03T04:05:06Z"}}, http.StatusCreated},
			{"bad modification time", "baddate.txt", http.Header{"X-Coffer-Modified": {"yesterday"}}, http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/files/" + tc.path, Token: tok, Header: tc.header, Body: bytes.NewReader(content)})
				if tc.status != http.StatusCreated {
					wantProblem(t, resp, body, tc.status)
					if p, _, _ := strings.Cut(tc.path, "?"); tc.status != http.StatusConflict {
						wantAbsent(t, e, tok, p)
					}
					return
				}
				wantStatus(t, resp, body, http.StatusCreated)
				p, _, _ := strings.Cut(tc.path, "?")
				if got := download(t, e, tok, p); !bytes.Equal(got, content) {
					t.Errorf("downloaded %q", got)
				}
			})
		}
		if l := list(t, e, tok, "/"); slices.Contains(names(l), "x") {
			t.Errorf("parents=false made the parent: %v", names(l))
		}
		resp, _ = e.Do(t, testenv.Request{Method: "HEAD", Path: "/api/v1/files/dated.txt", Token: tok})
		if lm := resp.Header.Get("Last-Modified"); lm != "Mon, 03 Feb 2020 04:05:06 GMT" {
			t.Errorf("Last-Modified %q after X-Coffer-Modified", lm)
		}

		// Replacing keeps one file with the new content.
		upload(t, e, tok, "a/b/c.txt", []byte("new"))
		if got := download(t, e, tok, "a/b/c.txt"); string(got) != "new" {
			t.Errorf("after replacing: %q", got)
		}
		if l := list(t, e, tok, "a/b"); !slices.Equal(names(l), []string{"c.txt", "d.txt"}) {
			t.Errorf("after replacing, /a/b holds %v", names(l))
		}
	})
}

func TestDownload(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		content := []byte("0123456789abcdefghij") // 20 bytes
		up := upload(t, e, tok, "dir/f.bin", content)
		etag := `"` + up.SHA256 + `"`

		for _, tc := range []struct {
			name         string
			header       http.Header
			status       int
			body         string
			contentRange string
		}{
			{"whole", nil, http.StatusOK, string(content), ""},
			{"first byte", http.Header{"Range": {"bytes=0-0"}}, http.StatusPartialContent, "0", "bytes 0-0/20"},
			{"last five", http.Header{"Range": {"bytes=-5"}}, http.StatusPartialContent, "fghij", "bytes 15-19/20"},
			{"from five", http.Header{"Range": {"bytes=5-"}}, http.StatusPartialContent, "56789abcdefghij", "bytes 5-19/20"},
			{"end beyond the file", http.Header{"Range": {"bytes=18-100"}}, http.StatusPartialContent, "ij", "bytes 18-19/20"},
			{"past the end", http.Header{"Range": {"bytes=20-"}}, http.StatusRequestedRangeNotSatisfiable, "", "bytes */20"},
			{"far past the end", http.Header{"Range": {"bytes=1000-2000"}}, http.StatusRequestedRangeNotSatisfiable, "", "bytes */20"},
			{"matching If-None-Match", http.Header{"If-None-Match": {etag}}, http.StatusNotModified, "", ""},
			{"other If-None-Match", http.Header{"If-None-Match": {`"abc"`}}, http.StatusOK, string(content), ""},
			{"If-Range with the ETag", http.Header{"Range": {"bytes=0-1"}, "If-Range": {etag}}, http.StatusPartialContent, "01", "bytes 0-1/20"},
			{"If-Range with another ETag", http.Header{"Range": {"bytes=0-1"}, "If-Range": {`"abc"`}}, http.StatusOK, string(content), ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/dir/f.bin", Token: tok, Header: tc.header})
				wantStatus(t, resp, body, tc.status)
				if tc.status != http.StatusRequestedRangeNotSatisfiable && string(body) != tc.body {
					t.Errorf("body %q, want %q", body, tc.body)
				}
				if got := resp.Header.Get("Content-Range"); got != tc.contentRange {
					t.Errorf("Content-Range %q, want %q", got, tc.contentRange)
				}
				if tc.status == http.StatusOK || tc.status == http.StatusPartialContent {
					h := resp.Header
					if h.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") ||
						h.Get("ETag") != etag || h.Get("Repr-Digest") != reprDigest(content) || h.Get("Content-Length") != strconv.Itoa(len(tc.body)) {
						t.Errorf("headers %v", h)
					}
				}
			})
		}

		t.Run("multiple ranges", func(t *testing.T) {
			resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/dir/f.bin", Token: tok, Header: http.Header{"Range": {"bytes=0-1,10-12"}}})
			wantStatus(t, resp, body, http.StatusPartialContent)
			mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if err != nil || mt != "multipart/byteranges" {
				t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			var parts []string
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(p)
				parts = append(parts, p.Header.Get("Content-Range")+"="+string(b))
			}
			if want := []string{"bytes 0-1/20=01", "bytes 10-12/20=abc"}; !slices.Equal(parts, want) {
				t.Errorf("parts %q, want %q", parts, want)
			}
		})

		t.Run("HEAD", func(t *testing.T) {
			resp, body := e.Do(t, testenv.Request{Method: "HEAD", Path: "/api/v1/files/dir/f.bin", Token: tok})
			wantStatus(t, resp, body, http.StatusOK)
			h := resp.Header
			if len(body) != 0 || resp.ContentLength != 20 || h.Get("ETag") != etag || h.Get("Repr-Digest") != reprDigest(content) ||
				h.Get("Accept-Ranges") != "bytes" || h.Get("Last-Modified") == "" {
				t.Errorf("HEAD: %d bytes of body, length %d, headers %v", len(body), resp.ContentLength, h)
			}
			resp, body = e.Do(t, testenv.Request{Method: "HEAD", Path: "/api/v1/files/dir/missing", Token: tok})
			wantProblem(t, resp, body, http.StatusNotFound)
			if len(body) != 0 {
				t.Errorf("HEAD answered with a body: %q", body)
			}
		})

		for _, tc := range []struct {
			name, path string
			status     int
		}{
			{"missing file", "dir/nope", http.StatusNotFound},
			{"missing directory", "nodir/nope", http.StatusNotFound},
			{"a directory", "dir", http.StatusConflict},
			{"the root", "", http.StatusConflict},
			{"below a file", "dir/f.bin/x", http.StatusConflict},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/" + tc.path, Token: tok})
				wantProblem(t, resp, body, tc.status)
			})
		}
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		upload(t, e, tok, "f.txt", []byte("x"))
		upload(t, e, tok, "d/sub/g.txt", []byte("yy"))
		del := func(path string) (*http.Response, []byte) {
			return e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/files/" + path, Token: tok})
		}

		resp, body := del("f.txt")
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/f.txt", Token: tok})
		wantProblem(t, resp, body, http.StatusNotFound)
		resp, body = del("f.txt")
		wantProblem(t, resp, body, http.StatusNotFound)

		resp, body = del("d")
		wantProblem(t, resp, body, http.StatusConflict)
		resp, body = del("d?recursive=false")
		wantProblem(t, resp, body, http.StatusConflict)
		if got := download(t, e, tok, "d/sub/g.txt"); string(got) != "yy" {
			t.Fatalf("a refused delete changed the tree: %q", got)
		}
		resp, body = del("d?recursive=true")
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/dirs/d", Token: tok})
		wantProblem(t, resp, body, http.StatusNotFound)
		if l := list(t, e, tok, "/"); len(l.Entries) != 0 {
			t.Errorf("root after deleting everything: %v", names(l))
		}
		resp, body = del("")
		wantProblem(t, resp, body, http.StatusForbidden)

		// The blobs of deleted files are removed.
		eventually(t, 10*time.Second, func() string {
			if fs := blobFiles(t, e); len(fs) != 0 {
				return fmt.Sprintf("blobs left after deleting every file: %v", fs)
			}
			return ""
		})
	})
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		const n = 250
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("f%03d", i))
		}
		// Uploaded in a scrambled order, a few at a time.
		var wg sync.WaitGroup
		work := make(chan string)
		for range 8 {
			wg.Go(func() {
				for name := range work {
					upload(t, e, tok, "many/"+name, []byte(name))
				}
			})
		}
		for i := range n {
			work <- want[(i*97)%n]
		}
		close(work)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}

		for _, limit := range []int{3, 7, 100, 249, 250, 251, 5000} {
			t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
				var got []string
				cursor := ""
				for page := 0; ; page++ {
					if page > n {
						t.Fatal("the cursor never ends")
					}
					l := list(t, e, tok, fmt.Sprintf("many?limit=%d&cursor=%s", limit, cursor))
					if len(l.Entries) > limit {
						t.Fatalf("page of %d entries with limit %d", len(l.Entries), limit)
					}
					got = append(got, names(l)...)
					if l.NextCursor == "" {
						break
					}
					if len(l.Entries) == 0 {
						t.Fatal("an empty page with a next cursor")
					}
					cursor = l.NextCursor
				}
				if !slices.Equal(got, want) {
					t.Errorf("pages gave %d names (first %v), want all %d in order without duplicates", len(got), got[:min(5, len(got))], n)
				}
			})
		}
		// Other orders page the same way; equal sizes fall back to names, reversed with
		// the rest.
		reversed := slices.Clone(want)
		slices.Reverse(reversed)
		for _, order := range []string{"sort=name&order=desc", "sort=size&order=desc", "sort=modified&order=asc"} {
			t.Run(order, func(t *testing.T) {
				var got []string
				cursor := ""
				for page := 0; page <= n; page++ {
					l := list(t, e, tok, fmt.Sprintf("many?limit=7&%s&cursor=%s", order, cursor))
					got = append(got, names(l)...)
					if cursor = l.NextCursor; cursor == "" {
						break
					}
				}
				if order != "sort=modified&order=asc" && !slices.Equal(got, reversed) {
					t.Errorf("%s gave %d names (first %v), want all %d in reverse", order, len(got), got[:min(5, len(got))], n)
				}
				sorted := slices.Clone(got)
				slices.Sort(sorted)
				if !slices.Equal(sorted, want) {
					t.Errorf("%s did not list every name once", order)
				}
			})
		}
		for _, q := range []string{"limit=0", "limit=-1", "limit=99999", "limit=5001", "limit=ten", "cursor=***", "cursor=" + strings.Repeat("A", 400), "sort=owner", "order=up", "sort=size&cursor=ZjAwMQ"} {
			t.Run(q, func(t *testing.T) {
				resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/dirs/many?" + q, Token: tok})
				wantProblem(t, resp, body, http.StatusBadRequest)
			})
		}
		resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/dirs/many/f001", Token: tok})
		wantProblem(t, resp, body, http.StatusConflict)
	})
}

func TestMkdir(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		upload(t, e, tok, "file", []byte("x"))
		for _, tc := range []struct {
			path   string
			status int
		}{
			{"x", http.StatusCreated},
			{"x", http.StatusConflict},
			{"x?parents=true", http.StatusCreated}, // like mkdir -p: exists is fine
			{"p/q/r", http.StatusNotFound},
			{"p/q/r?parents=true", http.StatusCreated},
			{"p/q/r?parents=true", http.StatusCreated},
			{"file", http.StatusConflict},
			{"file?parents=true", http.StatusConflict},
			{"file/sub?parents=true", http.StatusConflict},
			{"", http.StatusConflict},
		} {
			resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/dirs/" + tc.path, Token: tok})
			if tc.status != http.StatusCreated {
				wantProblem(t, resp, body, tc.status)
				continue
			}
			wantStatus(t, resp, body, http.StatusCreated)
			var got entry
			decode(t, body, &got)
			if p, _, _ := strings.Cut(tc.path, "?"); got.Type != "dir" || got.Path != "/"+p {
				t.Errorf("POST %s answered %+v", tc.path, got)
			}
		}
		if l := list(t, e, tok, "/"); !slices.Equal(names(l), []string{"file", "p", "x"}) {
			t.Errorf("root holds %v", names(l))
		}
		if l := list(t, e, tok, "p/q"); !slices.Equal(names(l), []string{"r"}) {
			t.Errorf("/p/q holds %v", names(l))
		}
	})
}

func TestMove(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		upload(t, e, tok, "a.txt", []byte("A"))
		upload(t, e, tok, "b.txt", []byte("B"))
		upload(t, e, tok, "d/inner.txt", []byte("I"))
		move := func(body string) (*http.Response, []byte) {
			return e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/move", Token: tok, Body: strings.NewReader(body),
				Header: http.Header{"Content-Type": {"application/json"}}})
		}
		for _, tc := range []struct {
			name, body string
			status     int
		}{
			{"to an existing file", `{"from":"/a.txt","to":"/b.txt"}`, http.StatusConflict},
			{"a directory into itself", `{"from":"/d","to":"/d/sub"}`, http.StatusBadRequest},
			{"missing source", `{"from":"/nope","to":"/x"}`, http.StatusNotFound},
			{"missing target directory", `{"from":"/a.txt","to":"/nodir/x"}`, http.StatusNotFound},
			{"over a directory", `{"from":"/a.txt","to":"/d","overwrite":true}`, http.StatusConflict},
			{"no from", `{"to":"/x"}`, http.StatusBadRequest},
			{"traversal", `{"from":"/a.txt","to":"/../../etc/passwd"}`, http.StatusBadRequest},
			{"malformed JSON", `{"from":"/a.txt",`, http.StatusBadRequest},
			{"unknown field", `{"from":"/a.txt","to":"/c.txt","force":true}`, http.StatusBadRequest},
			{"empty body", ``, http.StatusBadRequest},
			{"an array", `["/a.txt","/c.txt"]`, http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := move(tc.body)
				wantProblem(t, resp, body, tc.status)
			})
		}
		if l := list(t, e, tok, "/"); !slices.Equal(names(l), []string{"a.txt", "b.txt", "d"}) {
			t.Fatalf("refused moves changed the root: %v", names(l))
		}

		resp, body := move(`{"from":"/a.txt","to":"/c.txt"}`)
		wantStatus(t, resp, body, http.StatusOK)
		var got entry
		decode(t, body, &got)
		if got.Path != "/c.txt" || got.Name != "c.txt" || got.Size != 1 {
			t.Errorf("move answered %+v", got)
		}
		wantAbsent(t, e, tok, "a.txt")
		resp, body = move(`{"from":"/c.txt","to":"/b.txt","overwrite":true}`)
		wantStatus(t, resp, body, http.StatusOK)
		wantAbsent(t, e, tok, "c.txt")
		if got := download(t, e, tok, "b.txt"); string(got) != "A" {
			t.Errorf("after overwriting, b.txt holds %q", got)
		}
		resp, body = move(`{"from":"/d","to":"/e"}`)
		wantStatus(t, resp, body, http.StatusOK)
		if got := download(t, e, tok, "e/inner.txt"); string(got) != "I" {
			t.Errorf("after moving the directory: %q", got)
		}
		if used, _ := me(t, e, tok); used != 2 {
			t.Errorf("used %d after the overwrite, want 2", used)
		}
	})
}
