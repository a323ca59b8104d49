package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/testenv"
)

type parcelJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Files  []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"files"`
	Links []struct {
		RecipientID string `json:"recipient_id"`
		Token       string `json:"token"`
		URL         string `json:"url"`
	} `json:"links"`
	Recipients []struct {
		Views     int `json:"views"`
		Downloads []struct {
			Count int `json:"count"`
		} `json:"downloads"`
	} `json:"recipients"`
}

func answer[T any](t *testing.T, resp *http.Response, body []byte, status int) T {
	t.Helper()
	var v T
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return v
}

// TestParcelOverAPI sends a parcel to two recipients through the API and receives it as
// they would, without an account: a single file, the zip, revocation of one of them.
func TestParcelOverAPI(t *testing.T) {
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: tok, JSON: map[string]any{
			"subject": "results", "message": "hello", "recipients": []string{"doc@example.org", "gp@example.org"}, "expires_in": "72h"}})
		p := answer[parcelJSON](t, resp, body, http.StatusCreated)
		for name, content := range map[string]string{"a.txt": "alpha", "b b.txt": "beta"} {
			resp, body = e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/parcels/" + p.ID + "/files/" + strings.ReplaceAll(name, " ", "%20"), Token: tok, Body: strings.NewReader(content)})
			answer[map[string]any](t, resp, body, http.StatusCreated)
		}
		resp, body = e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/parcels/" + p.ID + "/files/%2e%2e", Token: tok, Body: strings.NewReader("x")})
		wantProblem(t, resp, body, http.StatusBadRequest)
		resp, body = e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels/" + p.ID + "/send", Token: tok})
		p = answer[parcelJSON](t, resp, body, http.StatusOK)
		if len(p.Links) != 2 || !strings.HasSuffix(p.Links[0].URL, "/p/"+p.Links[0].Token) {
			t.Fatalf("links: %+v", p.Links)
		}
		doc, gp := "/api/v1/p/"+p.Links[0].Token, "/api/v1/p/"+p.Links[1].Token

		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: doc})
		v := answer[parcelJSON](t, resp, body, http.StatusOK)
		if len(v.Files) != 2 {
			t.Fatalf("view: %s", body)
		}
		a := v.Files[0]
		if a.Name != "a.txt" {
			a = v.Files[1]
		}
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: doc + "/files/" + a.ID})
		if resp.StatusCode != http.StatusOK || string(body) != "alpha" || !strings.Contains(resp.Header.Get("Content-Disposition"), "a.txt") {
			t.Fatalf("download: %d %q %v", resp.StatusCode, body, resp.Header)
		}
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: gp + "/zip"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("zip: %d %s", resp.StatusCode, body)
		}
		zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
		if err != nil || len(zr.File) != 2 {
			t.Fatalf("zip: %v, %d files", err, len(zr.File))
		}
		for _, zf := range zr.File {
			rc, _ := zf.Open()
			b, _ := io.ReadAll(rc)
			if want := map[string]string{"a.txt": "alpha", "b b.txt": "beta"}[zf.Name]; string(b) != want {
				t.Fatalf("zip entry %q = %q", zf.Name, b)
			}
		}
		// Revoking gp leaves doc's link working.
		resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/parcels/" + p.ID + "/recipients/" + p.Links[1].RecipientID, Token: tok})
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("revoke recipient: %d %s", resp.StatusCode, body)
		}
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: gp})
		if pr := wantProblem(t, resp, body, http.StatusGone); !strings.Contains(pr.Detail, "revoked") {
			t.Fatalf("revoked link: %+v", pr)
		}
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: doc})
		answer[parcelJSON](t, resp, body, http.StatusOK)
		// Receipts.
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/parcels/" + p.ID, Token: tok})
		got := answer[parcelJSON](t, resp, body, http.StatusOK)
		if len(got.Recipients) != 2 || got.Recipients[0].Views != 2 || len(got.Recipients[0].Downloads) != 1 || len(got.Recipients[1].Downloads) != 2 {
			t.Fatalf("receipts: %s", body)
		}
		// Another user cannot see it; an unknown token learns nothing.
		bob := e.User(t, "bob", 0)
		resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/parcels/" + p.ID, Token: bob})
		wantProblem(t, resp, body, http.StatusNotFound)
		for _, path := range []string{"/api/v1/p/" + strings.Repeat("A", 32), "/api/v1/p/x", "/api/v1/p/" + strings.Repeat("A", 32) + "/zip"} {
			resp, body = e.Do(t, testenv.Request{Method: "GET", Path: path})
			if pr := wantProblem(t, resp, body, http.StatusNotFound); pr.Detail != "this link is not valid" {
				t.Fatalf("%s: %+v", path, pr)
			}
		}
	})
}

// TestParcelRequestOverAPI asks for files and uploads them as the recipient.
func TestParcelRequestOverAPI(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	tok := e.User(t, "alice", 0)
	resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: tok, JSON: map[string]any{
		"kind": "request", "subject": "please upload the ledger", "passphrase": "open sesame!"}})
	p := answer[parcelJSON](t, resp, body, http.StatusCreated)
	link := "/api/v1/p/" + p.Links[0].Token
	resp, body = e.Do(t, testenv.Request{Method: "PUT", Path: link + "/files/ledger.csv", Body: strings.NewReader("1,2,3")})
	wantProblem(t, resp, body, http.StatusUnauthorized)
	resp, body = e.Do(t, testenv.Request{Method: "POST", Path: link + "/unlock", JSON: map[string]string{"passphrase": "open sesame!"}})
	tk := answer[map[string]string](t, resp, body, http.StatusOK)
	h := http.Header{"Coffer-Parcel-Ticket": {tk["ticket"]}}
	resp, body = e.Do(t, testenv.Request{Method: "PUT", Path: link + "/files/ledger.csv", Body: strings.NewReader("1,2,3"), Header: h})
	f := answer[map[string]any](t, resp, body, http.StatusCreated)
	resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/parcels/" + p.ID + "/files/" + f["id"].(string), Token: tok})
	if resp.StatusCode != http.StatusOK || string(body) != "1,2,3" {
		t.Fatalf("the requester's download: %d %s", resp.StatusCode, body)
	}
}

// TestParcelProbing: probing link tokens scores in the defender (in the database, for
// every node), and the address is banned, with 403, once the score reaches the threshold.
func TestParcelProbing(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	p := e.Core.Defender.Policy()
	n := p.Threshold / p.Weights["link.notfound"]
	for i := range n {
		resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/p/" + strings.Repeat("B", 32)})
		wantProblem(t, resp, body, http.StatusNotFound)
		if i == n-2 {
			if err := e.Core.Defender.Check(context.Background(), "127.0.0.1"); err != nil {
				t.Fatalf("banned one probe before the threshold: %v", err)
			}
		}
	}
	resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/p/" + strings.Repeat("B", 32)})
	wantProblem(t, resp, body, http.StatusForbidden)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("403 without Retry-After")
	}
}
