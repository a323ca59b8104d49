package authzmatrix_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/httpd/api"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// The parcel matrix: every way of holding (or not holding) a parcel link, and every
// account, against every parcel operation. The oracle is docs/parcels.md: a link is a
// bearer secret for its own parcel only, usable until it expires, is revoked or used up,
// and behind its passphrase when there is one; the owner endpoints answer the owner only
// (another user, an administrator and a link holder get nothing: "404 no such parcel" or
// 401); a link never reaches a user's files.

// Recipient operations.
const (
	pView     = "view"
	pDownload = "download a file"
	pZip      = "download the zip"
	pUpload   = "upload into it"
	pTus      = "upload into it resumably"
	pTusOther = "append to another link's resumable upload"
	pForeign  = "download another parcel's file"
)

// A link case: how the caller holds a link, and what the oracle allows with it.
type linkCase struct {
	name    string
	token   string
	ticket  string // passphrase ticket sent along
	allowed map[string]bool
	locked  bool // the view answers, but only with sender, subject and expiry
}

type parcelOut struct {
	ID    string `json:"id"`
	Files []struct {
		ID string `json:"id"`
	} `json:"files"`
	Links []struct {
		RecipientID string `json:"recipient_id"`
		Token       string `json:"token"`
	} `json:"links"`
}

// pw is the parcel world: the server, a clock the parcels service reads, and a client
// per source address (127.0.0.N), so that the per-address limits on links see each case
// as its own caller, as separate recipients on the Internet would be.
type pw struct {
	*testenv.Env
	t    *testing.T
	next atomic.Int32
}

// client returns an HTTP client whose connections come from a loopback address of its own.
func (w *pw) client() *http.Client {
	n := w.next.Add(1)
	src := &net.TCPAddr{IP: net.IPv4(127, 0, byte(n/250), byte(2+n%250))}
	base := w.Client.Transport.(*http.Transport)
	tr := &http.Transport{TLSClientConfig: base.TLSClientConfig.Clone(), DialContext: (&net.Dialer{LocalAddr: src}).DialContext}
	tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	w.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// do sends one request with c and returns the status and body.
func (w *pw) do(c *http.Client, method, path, bearer, ticket string, body string) (int, []byte) {
	w.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, w.URL+path, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if ticket != "" {
		req.Header.Set(api.TicketHeader, ticket)
	}
	if strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// tus sends one tus request with c: POST creates an upload of length bytes with body as
// its first piece, PATCH appends body at offset 0, HEAD asks for the offset. It returns
// the status, body and headers.
func (w *pw) tus(c *http.Client, method, path, ticket, body string, length int) (int, []byte, http.Header) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.URL+path, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	switch method {
	case "POST":
		req.Header.Set("Upload-Length", strconv.Itoa(length))
		req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte("new-tus.txt")))
	case "PATCH":
		req.Header.Set("Upload-Offset", "0")
	}
	if ticket != "" {
		req.Header.Set(api.TicketHeader, ticket)
	}
	resp, err := c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// must sends a request that has to succeed with status want, and decodes its answer.
func must[T any](w *pw, method, path, bearer string, body any, want int) T {
	w.t.Helper()
	s := ""
	if body != nil {
		b, _ := json.Marshal(body)
		s = string(b)
	}
	code, b := w.do(w.Client, method, path, bearer, "", s)
	var v T
	if code != want {
		w.t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, b)
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &v); err != nil {
			w.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return v
}

// sent creates a parcel of owner's with one file holding secret, sends it to the
// recipients and returns it with its links.
func (w *pw) sent(owner string, opts map[string]any, secret string, recipients ...string) parcelOut {
	req := map[string]any{"subject": "s", "message": "m", "recipients": recipients}
	for k, v := range opts {
		req[k] = v
	}
	p := must[parcelOut](w, "POST", "/api/v1/parcels", owner, req, http.StatusCreated)
	if code, b := w.do(w.Client, "PUT", "/api/v1/parcels/"+p.ID+"/files/f.txt", owner, "", secret); code != http.StatusCreated {
		w.t.Fatalf("add a file: %d %s", code, b)
	}
	return must[parcelOut](w, "POST", "/api/v1/parcels/"+p.ID+"/send", owner, nil, http.StatusOK)
}

func TestParcelMatrix(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	w := &pw{Env: e, t: t}
	var skew atomic.Int64
	e.Core.Parcels.SetClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	alice, bob := e.User(t, "alice", 0), e.User(t, "bob", 0)
	carol := e.User(t, "carol", 0) // owns a parcel, then is disabled
	const pass = "correct horse battery staple"

	main := w.sent(alice, nil, "SECRET-MAIN", "doc@example.org", "gone@example.org")
	other := w.sent(alice, nil, "SECRET-OTHER", "x@example.org")
	revoked := w.sent(alice, nil, "SECRET-REVOKED", "y@example.org")
	expiring := w.sent(alice, map[string]any{"expires_in": "1h"}, "SECRET-EXPIRED", "z@example.org")
	once := w.sent(alice, map[string]any{"max_downloads": 1}, "SECRET-ONCE", "o@example.org")
	locked := w.sent(alice, map[string]any{"passphrase": pass}, "SECRET-LOCKED", "l@example.org")
	locked2 := w.sent(alice, map[string]any{"passphrase": pass}, "SECRET-LOCKED2", "l2@example.org")
	request := must[parcelOut](w, "POST", "/api/v1/parcels", alice, map[string]any{"kind": "request", "subject": "please", "message": "send me", "recipients": []string{"r@example.org", "c@example.org"}}, http.StatusCreated)
	closed := must[parcelOut](w, "POST", "/api/v1/parcels", alice, map[string]any{"kind": "request", "subject": "please", "message": "send me", "recipients": []string{"q@example.org"}}, http.StatusCreated)
	carols := w.sent(carol, nil, "SECRET-CAROL", "k@example.org")

	// Bring each parcel into its state.
	must[map[string]any](w, "DELETE", "/api/v1/parcels/"+main.ID+"/recipients/"+main.Links[1].RecipientID, alice, nil, http.StatusNoContent)
	must[map[string]any](w, "DELETE", "/api/v1/parcels/"+revoked.ID, alice, nil, http.StatusNoContent)
	must[map[string]any](w, "POST", "/api/v1/parcels/"+closed.ID+"/close", alice, nil, http.StatusNoContent)
	if code, b := w.do(w.client(), "GET", "/api/v1/p/"+once.Links[0].Token+"/files/"+once.Files[0].ID, "", "", ""); code != http.StatusOK {
		t.Fatalf("first download of the once-only parcel: %d %s", code, b)
	}
	// A recipient uploads into the open request, so that there is a file to try to read.
	if code, b := w.do(w.client(), "PUT", "/api/v1/p/"+request.Links[1].Token+"/files/up.txt", "", "", "SECRET-UPLOADED"); code != http.StatusCreated {
		t.Fatalf("upload into the request: %d %s", code, b)
	}
	// The other recipient of the request begins a resumable upload: its id is a secret of
	// that link, which no other link may use.
	code, b, h := w.tus(w.client(), "POST", "/api/v1/p/"+request.Links[1].Token+"/uploads", "", "", 100)
	if code != http.StatusCreated {
		t.Fatalf("a resumable upload into the request: %d %s", code, b)
	}
	otherUpload := h.Get("Location")[strings.LastIndex(h.Get("Location"), "/")+1:]
	skew.Store(int64(2 * time.Hour)) // expiring is now past its hour; the others have days
	var ticket struct {
		Ticket string `json:"ticket"`
	}
	if code, _ := w.do(w.client(), "POST", "/api/v1/p/"+locked.Links[0].Token+"/unlock", "", "", `{"passphrase":"wrong passphrase"}`); code != http.StatusUnauthorized {
		t.Errorf("unlock with a wrong passphrase: %d, want 401", code)
	}
	code, b = w.do(w.client(), "POST", "/api/v1/p/"+locked.Links[0].Token+"/unlock", "", "", `{"passphrase":"`+pass+`"}`)
	if code != http.StatusOK || json.Unmarshal(b, &ticket) != nil || ticket.Ticket == "" {
		t.Fatalf("unlock: %d %s", code, b)
	}

	all := func(ops ...string) map[string]bool {
		m := map[string]bool{}
		for _, op := range ops {
			m[op] = true
		}
		return m
	}
	cases := []linkCase{
		{name: "valid link", token: main.Links[0].Token, allowed: all(pView, pDownload, pZip)},
		{name: "revoked recipient", token: main.Links[1].Token},
		{name: "revoked parcel", token: revoked.Links[0].Token},
		{name: "expired parcel", token: expiring.Links[0].Token},
		{name: "used-up link", token: once.Links[0].Token},
		{name: "passphrase, no ticket", locked: true, token: locked.Links[0].Token},
		{name: "passphrase, ticket", token: locked.Links[0].Token, ticket: ticket.Ticket, allowed: all(pView, pDownload, pZip)},
		{name: "another link's ticket", locked: true, token: locked2.Links[0].Token, ticket: ticket.Ticket},
		{name: "forged ticket", locked: true, token: locked2.Links[0].Token, ticket: strings.Repeat("A", len(ticket.Ticket))},
		{name: "request link", token: request.Links[0].Token, allowed: all(pView, pUpload, pTus)},
		{name: "closed request", token: closed.Links[0].Token, allowed: all(pView)},
		{name: "unknown token", token: strings.Repeat("A", 32)},
		{name: "truncated token", token: main.Links[0].Token[:31]},
		{name: "token with a NUL", token: main.Links[0].Token[:31] + "%00"},
		{name: "disabled sender", token: carols.Links[0].Token},
	}
	root := accounts.LocalAdmin("test")
	yes := true
	if _, err := e.Core.Accounts.UpdateUser(context.Background(), root, "carol", accounts.UserUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	// What each parcel's file holds, to see that no refused answer carries it.
	secrets := []string{"SECRET-MAIN", "SECRET-OTHER", "SECRET-REVOKED", "SECRET-EXPIRED", "SECRET-ONCE", "SECRET-LOCKED", "SECRET-UPLOADED", "SECRET-CAROL"}
	fileOf := map[string]string{} // token -> a file id of its own parcel
	for _, p := range []parcelOut{main, revoked, expiring, once, locked, locked2, carols} {
		for _, l := range p.Links {
			fileOf[l.Token] = p.Files[0].ID
		}
	}
	for _, c := range cases {
		for _, op := range []string{pView, pDownload, pZip, pUpload, pTus, pTusOther, pForeign} {
			t.Run(c.name+"/"+op, func(t *testing.T) {
				path, method, body := "/api/v1/p/"+c.token, "GET", ""
				switch op {
				case pDownload:
					fid := fileOf[c.token]
					if fid == "" {
						fid = main.Files[0].ID // a real file id, of another parcel
					}
					path += "/files/" + fid
				case pZip:
					path += "/zip"
				case pUpload:
					method, body, path = "PUT", "NEW-"+c.name, path+"/files/new.txt"
				case pForeign:
					path += "/files/" + other.Files[0].ID
				}
				var code int
				var got []byte
				switch op {
				case pTus:
					body = "NEW-" + c.name
					code, got, _ = w.tus(w.client(), "POST", path+"/uploads", c.ticket, body, len(body))
				case pTusOther:
					code, got, _ = w.tus(w.client(), "PATCH", path+"/uploads/"+otherUpload, c.ticket, "NEW-"+c.name, 0)
				default:
					code, got = w.do(w.client(), method, path, "", c.ticket, body)
				}
				ok := code >= 200 && code < 300
				if c.locked && op == pView {
					// The page must be able to ask for the passphrase: a locked view, which
					// shows neither the message nor the files.
					var v struct {
						Locked  bool   `json:"locked"`
						Message string `json:"message"`
						Files   []any  `json:"files"`
					}
					if code != http.StatusOK || json.Unmarshal(got, &v) != nil || !v.Locked || v.Message != "" || len(v.Files) != 0 {
						t.Errorf("locked view: %d %.300s", code, got)
					}
					return
				}
				if want := c.allowed[op]; ok != want {
					t.Errorf("%s %s: status %d (allowed=%v), want allowed=%v: %.200s", method, path, code, ok, want, got)
				}
				if !ok {
					switch code {
					case 400, 401, 404, 409, 410:
					default:
						t.Errorf("refusal with status %d: %.200s", code, got)
					}
					for _, s := range secrets {
						if strings.Contains(string(got), s) {
							t.Errorf("refused answer carries %s", s)
						}
					}
				}
			})
		}
	}

	// Not a byte of anybody else landed in the other link's upload.
	if code, b, h := w.tus(w.client(), "HEAD", "/api/v1/p/"+request.Links[1].Token+"/uploads/"+otherUpload, "", "", 0); code != http.StatusOK || h.Get("Upload-Offset") != "0" {
		t.Errorf("the other link's upload after the matrix: %d, offset %q %s", code, h.Get("Upload-Offset"), b)
	}

	// The owner endpoints, for every kind of caller.
	type caller struct {
		name, bearer string
		owner        bool
	}
	callers := []caller{
		{"owner", alice, true}, {"other user", bob, false}, {"administrator", e.AdminToken, false},
		{"anonymous", "", false}, {"a link as a bearer token", main.Links[0].Token, false},
		{"disabled owner", carol, false},
	}
	upID := ""
	for _, f := range must[struct {
		Files []struct {
			ID string `json:"id"`
		} `json:"files"`
	}](w, "GET", "/api/v1/parcels/"+request.ID, alice, nil, http.StatusOK).Files {
		upID = f.ID
	}
	for _, c := range callers {
		target := request
		if c.name == "disabled owner" {
			target = carols
		}
		ops := []struct{ name, method, path, body string }{
			{"get", "GET", "/api/v1/parcels/" + target.ID, ""},
			{"download what arrived", "GET", "/api/v1/parcels/" + target.ID + "/files/" + upID, ""},
			{"add a recipient", "POST", "/api/v1/parcels/" + target.ID + "/recipients", `{"email":"new@example.org"}`},
			{"revoke a recipient", "DELETE", "/api/v1/parcels/" + target.ID + "/recipients/" + target.Links[0].RecipientID, ""},
		}
		if c.name == "disabled owner" {
			ops = ops[:1]
		}
		for _, op := range ops {
			t.Run("owner endpoint/"+c.name+"/"+op.name, func(t *testing.T) {
				code, got := w.do(w.client(), op.method, op.path, c.bearer, "", op.body)
				ok := code >= 200 && code < 300
				if ok != c.owner {
					t.Errorf("%s %s: status %d, want allowed=%v: %.200s", op.method, op.path, code, c.owner, got)
				}
				if !ok && strings.Contains(string(got), "SECRET") {
					t.Errorf("refused answer carries a secret: %.200s", got)
				}
			})
		}
		// A link or another account never lists someone's parcels.
		t.Run("list/"+c.name, func(t *testing.T) {
			code, got := w.do(w.client(), "GET", "/api/v1/parcels", c.bearer, "", "")
			listed := strings.Contains(string(got), request.ID)
			if listed != c.owner || (code == http.StatusOK) != (c.bearer != "" && c.name != "a link as a bearer token" && c.name != "disabled owner") {
				t.Errorf("list: status %d, lists alice's request: %v", code, listed)
			}
		})
	}
	// A link is no key to the user's files.
	for _, path := range []string{"/api/v1/files/f.txt", "/api/v1/dirs/", "/api/v1/me"} {
		if code, _ := w.do(w.client(), "GET", path, main.Links[0].Token, "", ""); code != http.StatusUnauthorized {
			t.Errorf("a link token as bearer on %s: %d, want 401", path, code)
		}
	}
	t.Logf("%d link cases × 5 operations, %d callers on the owner endpoints", len(cases), len(callers))
}
