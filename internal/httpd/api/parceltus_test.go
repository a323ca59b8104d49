package api_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
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

// parcelTusCreate starts a resumable upload at base (".../uploads") and returns its URL path.
func parcelTusCreate(t *testing.T, e *testenv.Env, token, base string, length int, meta string) string {
	t.Helper()
	resp, body := e.Do(t, testenv.Request{Method: "POST", Path: base, Token: token,
		Header: tusHeader("Upload-Length", strconv.Itoa(length), "Upload-Metadata", meta)})
	wantStatus(t, resp, body, http.StatusCreated)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, base+"/") || resp.Header.Get("Upload-Offset") != "0" || resp.Header.Get("Tus-Resumable") != "1.0.0" {
		t.Fatalf("create: Location %q, headers %v", loc, resp.Header)
	}
	return loc
}

// cutPatch sends a PATCH of data from off over a raw connection that closes after sent
// bytes of the body, and waits until HEAD shows that the server kept them.
func cutPatch(t *testing.T, e *testenv.Env, token, loc string, off int, data []byte, sent int) {
	t.Helper()
	u, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, e.Client.Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\n%sTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n", loc, u.Host, auth, off, len(data)-off)
	if _, err := conn.Write(data[off : off+sent]); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	// HEAD takes no lease, so it cannot race the cut request.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if n := tusOffset(t, e, token, loc); n != off {
			if n != off+sent {
				t.Fatalf("after the cut the upload holds %d bytes; want the %d sent", n, off+sent)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the cut PATCH was not kept within 20 s")
}

func tusPatchStatus(t *testing.T, e *testenv.Env, token, loc string, off int, piece []byte, status int) *http.Response {
	t.Helper()
	resp, body := e.Do(t, testenv.Request{Method: "PATCH", Path: loc, Token: token, Body: bytes.NewReader(piece),
		Header: tusHeader("Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(off))})
	if status == http.StatusNoContent {
		wantStatus(t, resp, body, status)
	} else {
		wantProblem(t, resp, body, status)
	}
	return resp
}

// TestParcelTusRequest uploads into a request with tus as a link's holder: a cut PATCH
// resumes where it broke, nothing is visible before the end, and the upload can be
// reached through no other link, user or endpoint.
func TestParcelTusRequest(t *testing.T) {
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		alice := e.User(t, "alice", 0)
		bob := e.User(t, "bob", 0)
		resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: alice, JSON: map[string]any{
			"kind": "request", "subject": "the ledger, please", "recipients": []string{"a@example.org", "b@example.org"}}})
		p := answer[parcelJSON](t, resp, body, http.StatusCreated)
		one, two := "/api/v1/p/"+p.Links[0].Token, "/api/v1/p/"+p.Links[1].Token

		resp, body = e.Do(t, testenv.Request{Method: "OPTIONS", Path: one + "/uploads"})
		wantStatus(t, resp, body, http.StatusNoContent)
		if resp.Header.Get("Tus-Version") != "1.0.0" {
			t.Fatalf("OPTIONS: %v", resp.Header)
		}

		data := make([]byte, 1<<20)
		rand.Read(data)
		sum := sha256.Sum256(data)
		loc := parcelTusCreate(t, e, "", one+"/uploads", len(data), "filename "+b64("ledger ✓.csv")+",sha256 "+b64(hex.EncodeToString(sum[:])))
		id := loc[strings.LastIndex(loc, "/")+1:]

		// The upload is this link's alone: another link, the owner's and anybody's tus
		// endpoints, another parcel's draft all find nothing.
		for _, tc := range []struct{ name, token, path string }{
			{"another link", "", two + "/uploads/" + id},
			{"a token that is no link", "", "/api/v1/p/" + strings.Repeat("C", 32) + "/uploads/" + id},
			{"the owner's user uploads", alice, "/api/v1/uploads/" + id},
			{"another user's uploads", bob, "/api/v1/uploads/" + id},
			{"the owner's draft uploads", alice, "/api/v1/parcels/" + p.ID + "/uploads/" + id},
			{"another user's draft uploads", bob, "/api/v1/parcels/" + p.ID + "/uploads/" + id},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := http.StatusNotFound
				if strings.HasSuffix(tc.name, "owner's draft uploads") {
					want = http.StatusConflict // a request is no draft: its owner uploads nothing
				}
				resp, body := e.Do(t, testenv.Request{Method: "HEAD", Path: tc.path, Token: tc.token, Header: tusHeader()})
				wantStatus(t, resp, body, want)
				tusPatchStatus(t, e, tc.token, tc.path, 0, data[:1000], want)
				resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: tc.path, Token: tc.token, Header: tusHeader()})
				wantProblem(t, resp, body, want)
			})
		}
		if n := tusOffset(t, e, "", loc); n != 0 {
			t.Fatalf("after the attempts of others the upload holds %d bytes", n)
		}

		// A first piece, then a cut mid-PATCH: every byte that arrived is kept.
		tusPatch(t, e, "", loc, 0, data[:100_000])
		cutPatch(t, e, "", loc, 100_000, data, 300_001)
		off := tusOffset(t, e, "", loc)
		tusPatchStatus(t, e, "", loc, 0, data[:10], http.StatusConflict) // a stale offset
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/parcels/" + p.ID, Token: alice})
		if got := answer[parcelJSON](t, resp, body, http.StatusOK); len(got.Files) != 0 {
			t.Fatalf("an incomplete upload is visible: %s", body)
		}
		resp = tusPatch(t, e, "", loc, off, data[off:])
		fileID := resp.Header.Get("X-Coffer-File")
		if resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) || fileID == "" {
			t.Fatalf("completion headers %v", resp.Header)
		}
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/parcels/" + p.ID + "/files/" + fileID, Token: alice})
		wantStatus(t, resp, body, http.StatusOK)
		if !bytes.Equal(body, data) || !strings.Contains(resp.Header.Get("Content-Disposition"), "ledger") {
			t.Fatalf("the requester reads back %d bytes (%v)", len(body), resp.Header)
		}
		resp, body = e.Do(t, testenv.Request{Method: "HEAD", Path: loc, Header: tusHeader()})
		wantStatus(t, resp, body, http.StatusNotFound)
		// The same name again is taken.
		resp, body = e.Do(t, testenv.Request{Method: "POST", Path: one + "/uploads", Header: tusHeader("Upload-Length", "1", "Upload-Metadata", "filename "+b64("ledger ✓.csv"))})
		wantProblem(t, resp, body, http.StatusConflict)

		// The other link's upload stops when its link is revoked.
		loc2 := parcelTusCreate(t, e, "", two+"/uploads", 1000, "filename "+b64("b.txt"))
		tusPatch(t, e, "", loc2, 0, data[:400])
		resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/parcels/" + p.ID + "/recipients/" + p.Links[1].RecipientID, Token: alice})
		wantStatus(t, resp, body, http.StatusNoContent)
		tusPatchStatus(t, e, "", loc2, 400, data[400:1000], http.StatusGone)
		resp, body = e.Do(t, testenv.Request{Method: "HEAD", Path: loc2, Header: tusHeader()})
		wantStatus(t, resp, body, http.StatusGone)

		// Closing the request stops new uploads and pieces of the first link too.
		loc3 := parcelTusCreate(t, e, "", one+"/uploads", 10, "filename "+b64("c.txt"))
		resp, body = e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels/" + p.ID + "/close", Token: alice})
		wantStatus(t, resp, body, http.StatusNoContent)
		tusPatchStatus(t, e, "", loc3, 0, data[:10], http.StatusGone)
	})
}

// TestParcelTusDraft adds files to a draft with tus as its owner, with the first piece in
// the POST, and cancels one.
func TestParcelTusDraft(t *testing.T) {
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		alice := e.User(t, "alice", 0)
		bob := e.User(t, "bob", 0)
		resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: alice, JSON: map[string]any{"subject": "the report"}})
		p := answer[parcelJSON](t, resp, body, http.StatusCreated)
		base := "/api/v1/parcels/" + p.ID + "/uploads"
		data := bytes.Repeat([]byte("0123456789"), 20_000)

		// creation-with-upload: all of it in the POST.
		resp, body = e.Do(t, testenv.Request{Method: "POST", Path: base, Token: alice, Body: bytes.NewReader(data),
			Header: tusHeader("Upload-Length", strconv.Itoa(len(data)), "Upload-Metadata", "filename "+b64("report.txt"), "Content-Type", "application/offset+octet-stream")})
		wantStatus(t, resp, body, http.StatusCreated)
		if resp.Header.Get("X-Coffer-File") == "" || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
			t.Fatalf("creation-with-upload of a whole file: %v", resp.Header)
		}

		// Another user cannot start or see uploads of alice's draft.
		resp, body = e.Do(t, testenv.Request{Method: "POST", Path: base, Token: bob, Header: tusHeader("Upload-Length", "1", "Upload-Metadata", "filename "+b64("x"))})
		wantProblem(t, resp, body, http.StatusNotFound)
		loc := parcelTusCreate(t, e, alice, base, len(data), "filename "+b64("draft.txt"))
		for _, tok := range []string{bob, ""} {
			resp, body = e.Do(t, testenv.Request{Method: "HEAD", Path: loc, Token: tok, Header: tusHeader()})
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("HEAD of alice's upload as %q: %d %s", tok, resp.StatusCode, body)
			}
		}
		id := loc[strings.LastIndex(loc, "/")+1:]
		resp, body = e.Do(t, testenv.Request{Method: "HEAD", Path: "/api/v1/uploads/" + id, Token: alice, Header: tusHeader()})
		wantStatus(t, resp, body, http.StatusNotFound)

		// A PUT of the name would collide with the upload when it completes.
		resp, body = e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/parcels/" + p.ID + "/files/draft.txt", Token: alice, Body: strings.NewReader("x")})
		wantProblem(t, resp, body, http.StatusConflict)

		// A cut, then termination: the bytes go, and the name is free again.
		cutPatch(t, e, alice, loc, 0, data, 70_000)
		resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: loc, Token: alice, Header: tusHeader()})
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = e.Do(t, testenv.Request{Method: "HEAD", Path: loc, Token: alice, Header: tusHeader()})
		wantStatus(t, resp, body, http.StatusNotFound)
		loc = parcelTusCreate(t, e, alice, base, 3, "filename "+b64("draft.txt"))
		// Starting the same name again replaces the upload.
		loc2 := parcelTusCreate(t, e, alice, base, 3, "filename "+b64("draft.txt"))
		resp, body = e.Do(t, testenv.Request{Method: "HEAD", Path: loc, Token: alice, Header: tusHeader()})
		wantStatus(t, resp, body, http.StatusNotFound)
		tusPatch(t, e, alice, loc2, 0, []byte("abc"))

		// An empty file completes with an empty PATCH, as tus clients send it.
		empty := parcelTusCreate(t, e, alice, base, 0, "filename "+b64("empty.txt"))
		if resp := tusPatch(t, e, alice, empty, 0, nil); resp.Header.Get("X-Coffer-File") == "" {
			t.Fatalf("an empty file did not complete: %v", resp.Header)
		}

		resp, body = e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels/" + p.ID + "/send", Token: alice})
		sent := answer[parcelJSON](t, resp, body, http.StatusOK)
		if len(sent.Files) != 3 {
			t.Fatalf("sent with %d files: %s", len(sent.Files), body)
		}
		// A sent parcel takes no more files.
		resp, body = e.Do(t, testenv.Request{Method: "POST", Path: base, Token: alice, Header: tusHeader("Upload-Length", "1", "Upload-Metadata", "filename "+b64("late.txt"))})
		wantProblem(t, resp, body, http.StatusConflict)
	})
}

// TestParcelTusHostile sends a request link's tus endpoint what an attacker would.
func TestParcelTusHostile(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	alice := e.User(t, "alice", 0)
	resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: alice, JSON: map[string]any{"kind": "request", "subject": "files"}})
	p := answer[parcelJSON](t, resp, body, http.StatusCreated)
	base := "/api/v1/p/" + p.Links[0].Token + "/uploads"
	resp, body = e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: alice, JSON: map[string]any{"kind": "request", "subject": "sealed", "e2e": true}})
	sealed := "/api/v1/p/" + answer[parcelJSON](t, resp, body, http.StatusCreated).Links[0].Token + "/uploads"
	loc := parcelTusCreate(t, e, "", base, 10, "filename "+b64("x.bin"))
	create := func(base, length, meta string) testenv.Request {
		return testenv.Request{Method: "POST", Path: base, Header: tusHeader("Upload-Length", length, "Upload-Metadata", meta)}
	}
	for _, tc := range []struct {
		name   string
		req    testenv.Request
		status int
	}{
		{"no Tus-Resumable", testenv.Request{Method: "POST", Path: base, Header: http.Header{"Upload-Length": {"1"}}}, 412},
		{"no filename", create(base, "1", ""), 400},
		{"slash", create(base, "1", "filename "+b64("a/b.txt")), 400},
		{"backslash", create(base, "1", "filename "+b64(`..\..\win.ini`)), 400},
		{"dot dot", create(base, "1", "filename "+b64("..")), 400},
		{"traversal", create(base, "1", "filename "+b64("../../etc/passwd")), 400},
		{"NUL", create(base, "1", "filename "+b64("a\x00.txt")), 400},
		{"control character", create(base, "1", "filename "+b64("a\nb.txt")), 400},
		{"huge name", create(base, "1", "filename "+b64(strings.Repeat("n", 4000))), 400},
		{"huge metadata", create(base, "1", "filename "+b64("a")+",junk "+b64(strings.Repeat("j", 20_000))), 400},
		{"bad base64", create(base, "1", "filename !!!"), 400},
		{"bad sha256", create(base, "1", "filename "+b64("a")+",sha256 "+b64("zz")), 400},
		{"negative length", create(base, "-1", "filename "+b64("a")), 400},
		{"deferred length", testenv.Request{Method: "POST", Path: base, Header: tusHeader("Upload-Defer-Length", "1", "Upload-Metadata", "filename "+b64("a"))}, 400},
		{"over the tus limit", create(base, "99999999999999999", "filename "+b64("a")), 413},
		{"over the parcel's quota", create(base, strconv.FormatInt(20<<30, 10), "filename "+b64("a")), 507},
		{"e2e: a plain name", create(sealed, "1", "filename "+b64("plain.txt")), 400},
		{"malformed id", testenv.Request{Method: "PATCH", Path: base + "/'%20OR%201=1--", Body: strings.NewReader("x"), Header: tusHeader("Content-Type", "application/offset+octet-stream", "Upload-Offset", "0")}, 404},
		{"wrong content type", testenv.Request{Method: "PATCH", Path: loc, Body: strings.NewReader("x"), Header: tusHeader("Content-Type", "text/plain", "Upload-Offset", "0")}, 415},
		{"no offset", testenv.Request{Method: "PATCH", Path: loc, Body: strings.NewReader("x"), Header: tusHeader("Content-Type", "application/offset+octet-stream")}, 400},
		{"too long", testenv.Request{Method: "PATCH", Path: loc, Body: strings.NewReader("01234567890"), Header: tusHeader("Content-Type", "application/offset+octet-stream", "Upload-Offset", "0")}, 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.Do(t, tc.req)
			wantProblem(t, resp, body, tc.status)
		})
	}
	// An e2e request takes its sealed metadata.
	parcelTusCreate(t, e, "", sealed, 1, "filename "+b64("c2VhbGVkIG1ldGFkYXRh"))
	// After all that, the upload still works, and only files of names that are names exist.
	tusPatch(t, e, "", loc, 0, []byte("0123456789"))
	resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/parcels/" + p.ID, Token: alice})
	if got := answer[parcelJSON](t, resp, body, http.StatusOK); len(got.Files) != 1 || got.Files[0].Name != "x.bin" {
		t.Fatalf("files: %s", body)
	}
	// A valid link asking for uploads that do not exist is not probing: no ban.
	pol := e.Core.Defender.Policy()
	for range pol.Threshold/pol.Weights["link.notfound"] + 1 {
		resp, body = e.Do(t, testenv.Request{Method: "HEAD", Path: base + "/" + strings.Repeat("a", 32), Header: tusHeader()})
		wantStatus(t, resp, body, http.StatusNotFound)
	}
	resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/p/" + p.Links[0].Token})
	wantStatus(t, resp, body, http.StatusOK)
}
