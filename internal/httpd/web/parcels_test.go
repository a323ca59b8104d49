package web_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/httpd/api"
	"github.com/coffer-mft/coffer/internal/parcel"
	"github.com/coffer-mft/coffer/internal/testenv"
)

var linkRE = regexp.MustCompile(`https://[^<"\s]+/p/([A-Za-z0-9_-]{32})`)

// parcelEnv is a server with the user tech signed in, and a clock for the parcel layer
// that the test moves (atomic: the server reads it on its own goroutines).
type parcelEnv struct {
	e    *testenv.Env
	tech *http.Client
	p    auth.Principal
	now  *atomic.Int64
}

func newParcelEnv(t *testing.T) parcelEnv {
	e := testenv.New(t, testenv.Options{})
	e.User(t, "tech", 0)
	now := &atomic.Int64{}
	now.Store(time.Now().UnixNano())
	e.Core.Parcels.SetClock(func() time.Time { return time.Unix(0, now.Load()) })
	u, err := e.Core.DB.Q().UserByName(t.Context(), "tech")
	if err != nil {
		t.Fatal(err)
	}
	return parcelEnv{e: e, tech: signedIn(t, e, "tech", "password-of-tech"), p: auth.Principal{UserID: u.ID, Name: u.Name}, now: now}
}

// do sends a request with c and returns the status and body.
func do(t *testing.T, c *http.Client, method, u string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// sendParcel makes and sends a parcel of tech's with the layer and returns its id and
// links; an e2e parcel gets a stand-in manifest.
func (pe parcelEnv) sendParcel(t *testing.T, np parcel.NewParcel, files map[string]string) (string, []parcel.Link) {
	t.Helper()
	ps := pe.e.Core.Parcels
	p, _, err := ps.Create(t.Context(), pe.p, np)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if _, err := ps.AddFile(t.Context(), pe.p, p.ID, name, strings.NewReader(content), int64(len(content)), nil); err != nil {
			t.Fatal(err)
		}
	}
	manifest := ""
	if np.E2E {
		manifest = "bWFuaWZlc3Q"
	}
	_, links, err := ps.Send(t.Context(), pe.p, p.ID, manifest)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID, links
}

// TestParcelSendPages: tech sends two files to two people with the pages, a recipient
// views the link, downloads a file and the zip until the limit, and the receipts show it;
// revoking one recipient stops only their link.
func TestParcelSendPages(t *testing.T) {
	pe := newParcelEnv(t)
	e, tech := pe.e, pe.tech
	code, got := page(t, tech, "GET", e.URL+"/parcels/", nil)
	mustContain(t, "empty list", code, 200, got, "My parcels", "No parcels yet", `href="/parcels/new?kind=request"`)
	code, got = page(t, tech, "GET", e.URL+"/parcels/new", nil)
	mustContain(t, "send form", code, 200, got, `name="subject"`, `name="recipients"`, `value="7"`, `max="30"`, `name="downloads"`, `value="5"`, `name="notify"`)

	form := url.Values{"kind": {"send"}, "subject": {"Q3 <report>"}, "message": {"Hello,\r\nthe figures."}, "recipients": {"ann@example.org, bob@example.org"},
		"days": {"7"}, "downloads": {"2"}, "notify": {"on"}}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("days", "31")
	code, got = page(t, tech, "POST", e.URL+"/parcels/new", bad)
	mustContain(t, "31 days", code, 400, got, "1 to 30 days", "Q3 &lt;report&gt;")
	bad.Set("days", "7")
	bad.Set("recipients", "not an address")
	code, got = page(t, tech, "POST", e.URL+"/parcels/new", bad)
	mustContain(t, "bad address", code, 400, got, "is not an e-mail address")

	resp, err := tech.PostForm(e.URL+"/parcels/new", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/parcels/") {
		t.Fatalf("create: %d %q", resp.StatusCode, loc)
	}
	id := strings.TrimPrefix(loc, "/parcels/")
	code, got = page(t, tech, "GET", e.URL+loc, nil)
	mustContain(t, "draft", code, 200, got, "draft", `data-put="/api/v1/parcels/`+id+`/files/"`, `data-tus="/api/v1/parcels/`+id+`/uploads"`, "upload.js", "No files yet", `disabled`)
	if code, _ := page(t, tech, "POST", e.URL+loc+"/send", nil); code != http.StatusBadRequest {
		t.Fatalf("sending a draft without files: %d", code)
	}
	// The page's uploader PUTs each file to the API with the session cookie.
	contents := map[string]string{"a.txt": "alpha alpha", "b.csv": "x,y\n1,2\n"}
	for name, c := range contents {
		if code, b := do(t, tech, "PUT", e.URL+"/api/v1/parcels/"+id+"/files/"+name, []byte(c)); code != http.StatusCreated {
			t.Fatalf("add %s: %d %s", name, code, b)
		}
	}
	code, got = page(t, tech, "POST", e.URL+loc+"/send", nil)
	mustContain(t, "send", code, 200, got, "Shown only now", "ann@example.org", "bob@example.org")
	links := linkRE.FindAllStringSubmatch(got, -1)
	if len(links) != 2 {
		t.Fatalf("want 2 links, got %v", links)
	}
	ann, bob := links[0][1], links[1][1]

	// Ann, without an account, sees the parcel.
	anon := browserClient(e)
	code, got = page(t, anon, "GET", e.URL+"/p/"+ann, nil)
	sumA := sha256.Sum256([]byte(contents["a.txt"]))
	mustContain(t, "recipient page", code, 200, got, "Q3 &lt;report&gt;", "<strong>tech</strong>", "Hello,\nthe figures.", "a.txt", "b.csv",
		hex.EncodeToString(sumA[:]), "/api/v1/p/"+ann+"/zip", "Download all (2 files, zip)")
	if strings.Contains(got, "<nav") && strings.Contains(got, `href="/parcels/"`) {
		t.Fatal("the recipient page shows the signed-in navigation")
	}
	fileIDs := regexp.MustCompile(`data-file="([0-9a-f]{32})"`).FindAllStringSubmatch(got, -1)
	if len(fileIDs) != 2 {
		t.Fatalf("file ids: %v", fileIDs)
	}
	// The zip holds both files (one download each).
	code, zb := do(t, anon, "GET", e.URL+"/api/v1/p/"+ann+"/zip", nil)
	if code != 200 {
		t.Fatalf("zip: %d %s", code, zb)
	}
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		if string(b) != contents[f.Name] {
			t.Fatalf("zip member %s: %q", f.Name, b)
		}
	}
	if len(zr.File) != 2 {
		t.Fatalf("zip has %d files", len(zr.File))
	}
	// One file once more: its second and last download; a third is refused.
	var aID, bID string
	for _, m := range fileIDs {
		if strings.Contains(got, `data-file="`+m[1]+`">`+"\n"+`    <td class="name"><a href="/api/v1/p/`+ann+`/files/`+m[1]+`" download data-file-link>a.txt`) {
			aID = m[1]
		} else {
			bID = m[1]
		}
	}
	if aID == "" {
		t.Fatalf("no link to a.txt in %s", got)
	}
	if code, b := do(t, anon, "GET", e.URL+"/api/v1/p/"+ann+"/files/"+aID, nil); code != 200 || string(b) != contents["a.txt"] {
		t.Fatalf("download a.txt: %d %q", code, b)
	}
	if code, _ := do(t, anon, "GET", e.URL+"/api/v1/p/"+ann+"/files/"+aID, nil); code != http.StatusGone {
		t.Fatalf("third download of a.txt: %d", code)
	}
	code, got = page(t, anon, "GET", e.URL+"/p/"+ann, nil)
	mustContain(t, "a.txt used up", code, 200, got, `<td class="num">0</td>`, `<td class="num">1</td>`)
	if code, _ := do(t, anon, "GET", e.URL+"/api/v1/p/"+ann+"/files/"+bID, nil); code != 200 {
		t.Fatalf("second download of b.csv: %d", code)
	}
	code, got = page(t, anon, "GET", e.URL+"/p/"+ann, nil)
	mustContain(t, "exhausted link", code, 410, got, "This link cannot be used", "as often as the sender allowed")

	// The receipts: ann viewed and downloaded, bob did nothing yet.
	code, got = page(t, tech, "GET", e.URL+loc, nil)
	mustContain(t, "receipts", code, 200, got, "sent", "ann@example.org", "a.txt: 2×", "b.csv: 2×", "Revoke link", "Revoke the parcel")

	// Revoke bob: his link is gone, ann's state is unchanged.
	rid := regexp.MustCompile(`data-recipient="([0-9a-f]{32})"><td>bob@example.org`).FindStringSubmatch(got)
	if rid == nil {
		t.Fatalf("no row of bob: %s", got)
	}
	code, got = page(t, tech, "POST", e.URL+loc+"/recipients/revoke", url.Values{"recipient": {rid[1]}})
	mustContain(t, "revoke bob", code, 200, got, "The recipient&#39;s link was revoked.", "revoked ")
	code, got = page(t, anon, "GET", e.URL+"/p/"+bob, nil)
	mustContain(t, "bob's revoked link", code, 410, got, "This link was revoked by the sender.")
	if code, _ := page(t, tech, "POST", e.URL+loc+"/recipients/revoke", url.Values{"recipient": {rid[1]}}); code != http.StatusConflict {
		t.Fatalf("revoking twice: %d", code)
	}

	// Another user sees neither the parcel nor its pages.
	e.User(t, "eve", 0)
	eve := signedIn(t, e, "eve", "password-of-eve")
	if code, _ := page(t, eve, "GET", e.URL+loc, nil); code != http.StatusNotFound {
		t.Fatalf("eve on tech's parcel: %d", code)
	}
	if code, _ := page(t, eve, "POST", e.URL+loc+"/revoke", nil); code != http.StatusNotFound {
		t.Fatalf("eve revoking tech's parcel: %d", code)
	}
	code, got = page(t, tech, "GET", e.URL+"/parcels/", nil)
	mustContain(t, "list", code, 200, got, `href="/parcels/`+id+`"`, "Q3 &lt;report&gt;")
	// Signed out, the pages send to the sign-in page.
	if code, _ := page(t, anon, "GET", e.URL+"/parcels/", nil); code != http.StatusSeeOther {
		t.Fatalf("/parcels/ signed out: %d", code)
	}
}

// TestParcelLinkStates: every state of a link that cannot be used gets its status and a
// plain sentence; a passphrase unlocks with a cookie; a file id of another parcel is
// not found.
func TestParcelLinkStates(t *testing.T) {
	pe := newParcelEnv(t)
	e := pe.e
	anon := browserClient(e)

	for _, tok := range []string{"nonsense", strings.Repeat("A", 32)} {
		code, got := page(t, anon, "GET", e.URL+"/p/"+tok, nil)
		mustContain(t, "unknown token "+tok, code, 404, got, "This link is not valid.")
		if code, got := page(t, anon, "POST", e.URL+"/p/"+tok+"/unlock", url.Values{"passphrase": {"whatever1"}}); code != 404 || !strings.Contains(got, "This link is not valid.") {
			t.Fatalf("unlock with an unknown token: %d", code)
		}
	}

	// A passphrase: the page asks for it; the files stay closed until it is given.
	id, links := pe.sendParcel(t, parcel.NewParcel{Subject: "secret plans", Message: "the message", Passphrase: "correct horse",
		Recipients: []string{"ann@example.org", "bob@example.org"}}, map[string]string{"plans.txt": "the plans"})
	tok := links[0].Token
	code, got := page(t, anon, "GET", e.URL+"/p/"+tok, nil)
	mustContain(t, "locked", code, 200, got, "secret plans", `action="/p/`+tok+`/unlock"`, `type="password"`)
	if strings.Contains(got, "plans.txt") || strings.Contains(got, "the message") {
		t.Fatalf("the locked page shows contents: %s", got)
	}
	p, err := e.Core.Parcels.Get(t.Context(), pe.p, id)
	if err != nil {
		t.Fatal(err)
	}
	fid := p.Files[0].ID
	if code, _ := do(t, anon, "GET", e.URL+"/api/v1/p/"+tok+"/files/"+fid, nil); code != http.StatusUnauthorized {
		t.Fatalf("download without the passphrase: %d", code)
	}
	code, got = page(t, anon, "POST", e.URL+"/p/"+tok+"/unlock", url.Values{"passphrase": {"wrong horse"}})
	mustContain(t, "wrong passphrase", code, 401, got, "Wrong passphrase (9 tries left)", `type="password"`)
	resp, err := anon.PostForm(e.URL+"/p/"+tok+"/unlock", url.Values{"passphrase": {"correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/p/"+tok {
		t.Fatalf("unlock: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == api.TicketCookie {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
		t.Fatalf("ticket cookie: %+v", ck)
	}
	code, got = page(t, anon, "GET", e.URL+"/p/"+tok, nil)
	mustContain(t, "unlocked", code, 200, got, "plans.txt", "the message")
	if code, b := do(t, anon, "GET", e.URL+"/api/v1/p/"+tok+"/files/"+fid, nil); code != 200 || string(b) != "the plans" {
		t.Fatalf("download with the ticket cookie: %d %q", code, b)
	}
	// The ticket is bob's no more than his link is ann's.
	if code, _ := do(t, anon, "GET", e.URL+"/api/v1/p/"+links[1].Token+"/files/"+fid, nil); code != http.StatusUnauthorized {
		t.Fatalf("ann's ticket on bob's link: %d", code)
	}
	// Bob guesses ten times: his link locks for good.
	bobC := browserClient(e)
	for i := 0; i < 9; i++ {
		if code, _ := page(t, bobC, "POST", e.URL+"/p/"+links[1].Token+"/unlock", url.Values{"passphrase": {"guess guess"}}); code != 401 {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	code, got = page(t, bobC, "POST", e.URL+"/p/"+links[1].Token+"/unlock", url.Values{"passphrase": {"guess guess"}})
	mustContain(t, "tenth guess", code, 401, got, "this link is now locked")
	code, got = page(t, bobC, "GET", e.URL+"/p/"+links[1].Token, nil)
	mustContain(t, "locked link", code, 410, got, "This link is locked after too many wrong passphrases")

	// Another parcel's file through this link: not found.
	_, other := pe.sendParcel(t, parcel.NewParcel{Subject: "other"}, map[string]string{"o.txt": "other"})
	if code, _ := do(t, anon, "GET", e.URL+"/api/v1/p/"+other[0].Token+"/files/"+fid, nil); code != http.StatusNotFound {
		t.Fatalf("another parcel's file id: %d", code)
	}

	// Expired: the clock passes the lifetime.
	_, short := pe.sendParcel(t, parcel.NewParcel{Subject: "brief", Lifetime: time.Hour}, map[string]string{"x.txt": "x"})
	code, _ = page(t, anon, "GET", e.URL+"/p/"+short[0].Token, nil)
	mustContain(t, "before expiry", code, 200, "")
	pe.now.Add(int64(2 * time.Hour))
	code, got = page(t, anon, "GET", e.URL+"/p/"+short[0].Token, nil)
	mustContain(t, "expired", code, 410, got, "This link expired on")

	// Revoked by its owner on the parcel's page.
	code, got = page(t, pe.tech, "POST", e.URL+"/parcels/"+id+"/revoke", nil)
	mustContain(t, "revoke", code, 200, got, "The parcel was revoked", "<strong>revoked</strong>")
	code, got = page(t, anon, "GET", e.URL+"/p/"+tok, nil)
	mustContain(t, "revoked", code, 410, got, "This link was revoked by the sender.")
	if code, _ := do(t, anon, "GET", e.URL+"/api/v1/p/"+tok+"/files/"+fid, nil); code != http.StatusGone {
		t.Fatalf("download from a revoked parcel: %d", code)
	}
	// Every view is in the audit log, by the layer.
	code, got = page(t, signedInAdmin(t, e), "GET", e.URL+"/admin/audit?action=parcel.view", nil)
	mustContain(t, "audit", code, 200, got, "recipient:ann@example.org", "parcel.view")
}

// signedInAdmin is the bootstrap administrator's browser.
func signedInAdmin(t *testing.T, e *testenv.Env) *http.Client {
	return signedIn(t, e, "admin", "admin-password-for-tests")
}

// TestParcelProbingBans: guessing links on the recipient page scores toward a ban of the
// address, which then shuts out the page and the API alike.
func TestParcelProbingBans(t *testing.T) {
	pe := newParcelEnv(t)
	anon := browserClient(pe.e)
	n := 0
	for ; n < 100; n++ {
		code, _ := page(t, anon, "GET", pe.e.URL+"/p/"+strings.Repeat("B", 32), nil)
		if code == http.StatusForbidden {
			break
		}
		if code != http.StatusNotFound {
			t.Fatalf("request %d: %d", n, code)
		}
	}
	if n < 20 || n == 100 {
		t.Fatalf("banned after %d requests", n)
	}
	if code, _ := do(t, anon, "GET", pe.e.URL+"/api/v1/p/"+strings.Repeat("B", 32), nil); code != http.StatusForbidden {
		t.Fatalf("the API after the page earned a ban: %d", code)
	}
}

// TestParcelRequestPages: tech requests files; the recipient uploads on their page and
// finishes; tech downloads what arrived, then stops the request.
func TestParcelRequestPages(t *testing.T) {
	pe := newParcelEnv(t)
	e, tech := pe.e, pe.tech
	code, got := page(t, tech, "GET", e.URL+"/parcels/new?kind=request", nil)
	mustContain(t, "request form", code, 200, got, "Request files", `value="request"`)
	if strings.Contains(got, `name="downloads"`) {
		t.Fatal("the request form asks for downloads")
	}
	code, got = page(t, tech, "POST", e.URL+"/parcels/new", url.Values{"kind": {"request"}, "subject": {"Scans please"},
		"message": {"Your passport scan."}, "recipients": {"carol@example.org"}, "days": {"3"}})
	mustContain(t, "create request", code, 201, got, "Shown only now", "carol@example.org")
	m := linkRE.FindStringSubmatch(got)
	if m == nil {
		t.Fatal(got)
	}
	tok := m[1]
	id := regexp.MustCompile(`href="/parcels/([0-9a-f]{32})"`).FindStringSubmatch(got)[1]

	carol := browserClient(e)
	code, got = page(t, carol, "GET", e.URL+"/p/"+tok, nil)
	mustContain(t, "upload page", code, 200, got, "asks you for files", "Your passport scan.", `data-put="/api/v1/p/`+tok+`/files/"`, `data-tus="/api/v1/p/`+tok+`/uploads"`, "upload.js", "Finished")
	scan := "%PDF-1.7 scan"
	if code, b := do(t, carol, "PUT", e.URL+"/api/v1/p/"+tok+"/files/"+url.PathEscape("scan 1.pdf"), []byte(scan)); code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, b)
	}
	code, got = page(t, carol, "GET", e.URL+"/p/"+tok, nil)
	mustContain(t, "after upload", code, 200, got, "Your files", "scan 1.pdf")
	code, got = page(t, carol, "GET", e.URL+"/p/"+tok+"?done=1", nil)
	mustContain(t, "finished", code, 200, got, "Thank you: your files were delivered to tech.")
	fid := regexp.MustCompile(`data-file="([0-9a-f]{32})"`).FindStringSubmatch(got)
	if fid != nil {
		t.Fatal("the finished page lists files")
	}
	code, got = page(t, tech, "GET", e.URL+"/parcels/"+id, nil)
	mustContain(t, "arrived", code, 200, got, "scan 1.pdf", "carol@example.org", "Stop accepting files")
	fid = regexp.MustCompile(`href="(/api/v1/parcels/[0-9a-f]{32}/files/[0-9a-f]{32})" download>scan 1.pdf`).FindStringSubmatch(got)
	if fid == nil {
		t.Fatal(got)
	}
	if code, b := do(t, tech, "GET", e.URL+fid[1], nil); code != 200 || string(b) != scan {
		t.Fatalf("requester download: %d %q", code, b)
	}
	// An uploader downloads nothing, not even their own file.
	fileID := fid[1][strings.LastIndexByte(fid[1], '/')+1:]
	if code, _ := do(t, carol, "GET", e.URL+"/api/v1/p/"+tok+"/files/"+fileID, nil); code != http.StatusConflict {
		t.Fatalf("uploader downloading: %d", code)
	}
	code, got = page(t, tech, "POST", e.URL+"/parcels/"+id+"/close", nil)
	mustContain(t, "close", code, 200, got, "The request no longer accepts files.", "<strong>closed</strong>")
	code, got = page(t, carol, "GET", e.URL+"/p/"+tok, nil)
	mustContain(t, "closed request", code, 200, got, "no longer accepts files")
	if strings.Contains(got, "data-put") {
		t.Fatal("a closed request still shows the uploader")
	}
	if code, _ := do(t, carol, "PUT", e.URL+"/api/v1/p/"+tok+"/files/late.txt", []byte("late")); code != http.StatusGone {
		t.Fatalf("upload into a closed request: %d", code)
	}
}

// TestAdminParcels: an administrator finds parcels by owner, recipient address and
// subject, and revokes one; a plain user may not.
func TestAdminParcels(t *testing.T) {
	pe := newParcelEnv(t)
	e := pe.e
	_, links := pe.sendParcel(t, parcel.NewParcel{Subject: "Invoices March", Recipients: []string{"dora@example.org"}}, map[string]string{"i.pdf": "i"})
	pe.sendParcel(t, parcel.NewParcel{Subject: "Holiday photos"}, map[string]string{"p.jpg": "p"})
	admin := signedInAdmin(t, e)
	code, got := page(t, admin, "GET", e.URL+"/admin/parcels", nil)
	mustContain(t, "all parcels", code, 200, got, "Invoices March", "Holiday photos", "<td>tech</td>")
	for _, q := range []string{"DORA@example", "invoices", "Tech"} {
		code, got = page(t, admin, "GET", e.URL+"/admin/parcels?q="+url.QueryEscape(q), nil)
		mustContain(t, "search "+q, code, 200, got, "Invoices March")
		if q != "Tech" && strings.Contains(got, "Holiday photos") {
			t.Fatalf("search %q also finds another parcel", q)
		}
	}
	code, got = page(t, admin, "GET", e.URL+"/admin/parcels?q=nobody", nil)
	mustContain(t, "no match", code, 200, got, "No parcels match")
	_, got = page(t, admin, "GET", e.URL+"/admin/parcels?q=invoices", nil)
	id := regexp.MustCompile(`<tr data-id="([0-9a-f]{32})"><td class="name">Invoices March`).FindStringSubmatch(got)
	if id == nil {
		t.Fatal("no row of the invoices")
	}
	code, got = page(t, admin, "POST", e.URL+"/admin/parcels/revoke", url.Values{"id": {id[1]}, "q": {"invoices"}})
	mustContain(t, "admin revoke", code, 200, got, "The parcel was revoked", "<td>revoked</td>")
	code, got = page(t, browserClient(e), "GET", e.URL+"/p/"+links[0].Token, nil)
	mustContain(t, "revoked by the administrator", code, 410, got, "revoked")
	code, _ = page(t, admin, "POST", e.URL+"/admin/parcels/revoke", url.Values{"id": {id[1]}})
	if code != http.StatusConflict {
		t.Fatalf("revoking twice: %d", code)
	}
	code, got = page(t, admin, "GET", e.URL+"/admin/audit?action=parcel.revoke", nil)
	mustContain(t, "audit", code, 200, got, "/parcels/"+id[1], "<td>admin</td>")
	if code, _ := page(t, pe.tech, "GET", e.URL+"/admin/parcels", nil); code != http.StatusForbidden {
		t.Fatalf("a plain user on the parcels list: %d", code)
	}
	if code, _ := page(t, pe.tech, "POST", e.URL+"/admin/parcels/revoke", url.Values{"id": {id[1]}}); code != http.StatusForbidden {
		t.Fatalf("a plain user revoking: %d", code)
	}
	// The layer refuses a non-administrator on its own too.
	if _, err := e.Core.Parcels.Search(t.Context(), pe.p, "", 10); err == nil {
		t.Fatal("Search by a plain user")
	}
}

// TestParcelE2EPage: an end-to-end parcel's page does not break: it lists the sealed
// files under neutral names, offers no zip, marks the hook for the decryption library,
// and (without static/parcel-e2e.js) says how to decrypt it instead.
func TestParcelE2EPage(t *testing.T) {
	pe := newParcelEnv(t)
	sealed := "c2VhbGVkIG1ldGFkYXRhIG9mIGZpbGUgb25l" // base64url, as the format's metadata is
	_, links := pe.sendParcel(t, parcel.NewParcel{Subject: "sealed", E2E: true}, map[string]string{sealed: "ciphertext"})
	code, got := page(t, browserClient(pe.e), "GET", pe.e.URL+"/p/"+links[0].Token, nil)
	mustContain(t, "e2e page", code, 200, got, `data-parcel-e2e="1"`, `data-api="/api/v1/p/`+links[0].Token+`"`, "end-to-end encrypted",
		"encrypted file ", "/static/parcel-e2e.js", "/static/parcel.js")
	if strings.Contains(got, sealed) || strings.Contains(got, "/zip") {
		t.Fatalf("the e2e page shows the sealed name or a zip: %s", got)
	}
}

// TestParcelE2ESendForm: the send form offers "End-to-end encrypted" and loads the
// library that does it in the page; a form posted with the box checked (the page's
// script did not run) is refused with a sentence saying why, and creates nothing, so
// that no file can go out in plain text by mistake.
func TestParcelE2ESendForm(t *testing.T) {
	pe := newParcelEnv(t)
	e, tech := pe.e, pe.tech
	code, got := page(t, tech, "GET", e.URL+"/parcels/new", nil)
	mustContain(t, "send form", code, 200, got, `name="e2e" id="e2e"`, `id="e2e-pick"`, "/static/parcel-e2e.js", "/static/parcel.js", "<noscript>")
	if strings.Contains(got, `id="e2e" checked`) || strings.Contains(got, `type="hidden" name="e2e"`) {
		t.Fatal("end-to-end encryption is preset, but the policy does not require it")
	}
	code, got = page(t, tech, "GET", e.URL+"/parcels/new?kind=request", nil)
	if code != 200 || strings.Contains(got, `id="e2e"`) || strings.Contains(got, "parcel-e2e.js") {
		t.Fatalf("the request form offers end-to-end encryption (%d)", code)
	}
	form := url.Values{"kind": {"send"}, "subject": {"Plain by mistake?"}, "recipients": {"ann@example.org"},
		"days": {"7"}, "downloads": {"5"}, "e2e": {"on"}}
	code, got = page(t, tech, "POST", e.URL+"/parcels/new", form)
	mustContain(t, "e2e posted", code, 400, got, "needs JavaScript", "nothing was created or sent", "coffer send --e2e",
		`id="e2e" checked`, "Plain by mistake?")
	if ps, _, err := e.Core.Parcels.List(t.Context(), pe.p, "", 10); err != nil || len(ps) != 0 {
		t.Fatalf("the refused form made %d parcels (%v)", len(ps), err)
	}
}
