package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/coffer-mft/coffer/internal/parcel/e2e"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// The browser's end-to-end parcel library (static/parcel-e2e.js) is tested in Chromium
// through a test-only page: the harness server below serves that page and
// testdata/parcel-e2e-harness.js, and passes everything else (/static/, /api/) to the
// Coffer server under test, so that page, library, service worker and API share an
// origin. It is plain HTTP on loopback, which browsers count as a secure context (service
// workers and WebCrypto need one; a test certificate would make Chromium refuse to
// register a service worker).

const harnessPage = `<!doctype html><meta charset="utf-8"><title>loading</title>
<input type="file" id="pick"><script src="/static/parcel-e2e.js"></script><script src="/harness.js"></script>`

type harness struct {
	URL       string
	ctx       context.Context
	downloads string // where Chromium saves downloads
	mu        sync.Mutex
	served    map[string][]byte // what /sealed/NAME answers
	events    chan *cdpbrowser.EventDownloadProgress
}

func newHarness(t testing.TB, e *testenv.Env, ctx context.Context) *harness {
	t.Helper()
	target, _ := url.Parse(e.URL)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }, Transport: e.Client.Transport}
	h := &harness{ctx: ctx, downloads: t.TempDir(), served: map[string][]byte{}, events: make(chan *cdpbrowser.EventDownloadProgress, 100)}
	mux := http.NewServeMux()
	strict := func(w http.ResponseWriter) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'")
		w.Header().Set("Cache-Control", "no-store")
	}
	mux.HandleFunc("GET /harness", func(w http.ResponseWriter, r *http.Request) {
		strict(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, harnessPage)
	})
	file := func(path, ctype string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, err := os.ReadFile(path)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			strict(w)
			w.Header().Set("Content-Type", ctype)
			w.Write(b)
		}
	}
	mux.HandleFunc("GET /harness.js", file("testdata/parcel-e2e-harness.js", "text/javascript"))
	mux.HandleFunc("GET /vectors.json", file("../../parcel/e2e/testdata/vectors.json", "application/json"))
	mux.HandleFunc("GET /sealed/{name}", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		b, ok := h.served[r.PathValue("name")]
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})
	mux.Handle("/", proxy)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	chromedp.ListenBrowser(ctx, func(ev any) {
		if d, ok := ev.(*cdpbrowser.EventDownloadProgress); ok && d.State != cdpbrowser.DownloadProgressStateInProgress {
			h.events <- d
		}
	})
	yes := true
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: h.downloads, EventsEnabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(h.URL+"/harness")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.title === "ready"`)); err != nil {
		t.Fatalf("the harness page did not load: %v", err)
	}
	return h
}

func (h *harness) serve(name string, b []byte) {
	h.mu.Lock()
	h.served[name] = b
	h.mu.Unlock()
}

// call runs H.fn(arg) in the page and decodes its result into T.
func call[T any](t testing.TB, h *harness, fn string, arg any) T {
	t.Helper()
	js, err := json.Marshal(arg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := chromedp.Run(h.ctx, chromedp.Evaluate[T]("H."+fn+"("+string(js)+")", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("H.%s: %v", fn, err)
	}
	return v
}

// download waits for the next download to end and returns its state.
func (h *harness) download(t testing.TB) *cdpbrowser.EventDownloadProgress {
	t.Helper()
	select {
	case d := <-h.events:
		return d
	case <-time.After(2 * time.Minute):
		t.Fatal("no download ended in 2 minutes")
		return nil
	}
}

// goSend makes an end-to-end send parcel the way `coffer send --e2e` does (the e2e
// package and the REST API) and returns its link token and the fragment.
func goSend(t testing.TB, e *testenv.Env, token, passphrase string, contents map[string][]byte) (string, string) {
	t.Helper()
	secret := e2e.NewSecret()
	var p []byte
	req := map[string]any{"subject": "from Go", "e2e": true}
	if passphrase != "" {
		salt := e2e.NewSalt()
		var verifier string
		var err error
		if p, verifier, err = e2e.Passphrase(passphrase, salt); err != nil {
			t.Fatal(err)
		}
		req["passphrase"], req["kdf_salt"] = verifier, base64.RawURLEncoding.EncodeToString(salt)
	}
	keys := e2e.NewKeys(secret, p)
	resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: token, JSON: req})
	var parcel struct {
		ID    string `json:"id"`
		Links []struct {
			Token string `json:"token"`
		} `json:"links"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &parcel) != nil {
		t.Fatalf("create: %s %s", resp.Status, body)
	}
	var manifest e2e.Manifest
	manifest.Message = "sealed message"
	for name, data := range contents {
		sum := sha256.Sum256(data)
		f, err := keys.NewFile(name, int64(len(data)), sum[:])
		if err != nil {
			t.Fatal(err)
		}
		var sealed bytes.Buffer
		if err := f.Encrypt(&sealed, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		resp, body := e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/parcels/" + parcel.ID + "/files/" + f.Sealed, Token: token,
			Body: &sealed, BodyLen: int64(sealed.Len())})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload: %s %s", resp.Status, body)
		}
		manifest.Files = append(manifest.Files, f.Nonce)
	}
	sealed, err := keys.SealManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels/" + parcel.ID + "/send", Token: token, JSON: map[string]string{"manifest": sealed}})
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &parcel) != nil || len(parcel.Links) != 1 {
		t.Fatalf("send: %s %s", resp.Status, body)
	}
	return parcel.Links[0].Token, secret.Fragment()
}

// goReceive opens a link with the e2e package and returns each file's name and SHA-256.
func goReceive(t testing.TB, e *testenv.Env, token, fragment, passphrase string) (string, map[string]string) {
	t.Helper()
	s, err := e2e.ParseFragment(fragment)
	if err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/p/" + token
	var view struct {
		KDFSalt  string `json:"kdf_salt"`
		Manifest string `json:"manifest"`
		Files    []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"files"`
	}
	var p []byte
	hdr := http.Header{}
	resp, body := e.Do(t, testenv.Request{Method: "GET", Path: base})
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &view) != nil {
		t.Fatalf("view: %s %s", resp.Status, body)
	}
	if passphrase != "" {
		salt, _ := base64.RawURLEncoding.DecodeString(view.KDFSalt)
		var verifier string
		if p, verifier, err = e2e.Passphrase(passphrase, salt); err != nil {
			t.Fatal(err)
		}
		resp, body := e.Do(t, testenv.Request{Method: "POST", Path: base + "/unlock", JSON: map[string]string{"passphrase": verifier}})
		var tk struct {
			Ticket string `json:"ticket"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tk) != nil {
			t.Fatalf("unlock: %s %s", resp.Status, body)
		}
		hdr.Set("Coffer-Parcel-Ticket", tk.Ticket)
		_, body = e.Do(t, testenv.Request{Method: "GET", Path: base, Header: hdr})
		json.Unmarshal(body, &view)
	}
	keys := e2e.NewKeys(s, p)
	man, err := keys.OpenManifest(view.Manifest)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	got := map[string]string{}
	for i, f := range view.Files {
		m, err := keys.OpenMeta(f.Name)
		if err != nil || m.Nonce() != man.Files[i] {
			t.Fatalf("metadata: %v (nonce %s, manifest %v)", err, m.Nonce(), man.Files)
		}
		resp, body := e.Do(t, testenv.Request{Method: "GET", Path: base + "/files/" + f.ID, Header: hdr})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("download: %s", resp.Status)
		}
		var out bytes.Buffer
		if err := keys.Decrypt(&out, bytes.NewReader(body), m); err != nil {
			t.Fatalf("Go cannot decrypt what the browser sealed: %v", err)
		}
		sum := sha256.Sum256(out.Bytes())
		got[m.Name] = hex.EncodeToString(sum[:])
	}
	return man.Message, got
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type receivedFile struct {
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	Progress int64  `json:"progress"`
	SHA256   string `json:"sha256"`
}

type receivedParcel struct {
	Error   string         `json:"error"`
	Message string         `json:"message"`
	Files   []receivedFile `json:"files"`
}

// TestParcelE2EBrowser checks the browser's implementation of coffer-parcel-1 against the
// Go one: known-answer vectors, parcels made in Go opened in Chromium (saved both ways:
// a file handle as the save dialog gives, and a service-worker download to disk), a
// parcel made in Chromium opened in Go, and every failure leaving no finished file.
func TestParcelE2EBrowser(t *testing.T) {
	ctx := browser(t, 4*time.Minute)
	e := testenv.New(t, testenv.Options{})
	token := e.User(t, "tech", 0)
	h := newHarness(t, e, ctx)

	t.Run("SHA-256", func(t *testing.T) {
		if got := call[string](t, h, "sha", nil); got != "ok" {
			t.Fatal(got)
		}
	})
	t.Run("vectors", func(t *testing.T) {
		if got := call[string](t, h, "vectors", nil); got != "ok" {
			t.Fatal(got)
		}
	})

	contents := map[string][]byte{"results €.bin": random(3*e2e.ChunkSize + 1234), "empty.txt": {}, "one chunk.bin": random(e2e.ChunkSize)}
	t.Run("Go to browser, file handle", func(t *testing.T) {
		link, fragment := goSend(t, e, token, "correct horse battery", contents)
		got := call[receivedParcel](t, h, "receive", map[string]any{"token": link, "fragment": fragment, "passphrase": "correct horse battery", "sink": "opfs"})
		if got.Error != "" || got.Message != "sealed message" || len(got.Files) != len(contents) {
			t.Fatalf("received %+v", got)
		}
		for _, f := range got.Files {
			if want := contents[f.Name]; f.SHA256 != sumHex(want) || f.Size != int64(len(want)) || f.Progress != f.Size {
				t.Errorf("%s: %+v, want %d bytes, SHA-256 %s", f.Name, f, len(want), sumHex(want))
			}
		}
	})
	t.Run("Go to the recipient page, passphrase, service worker download", func(t *testing.T) {
		// The page itself (templates/recipient.html and static/parcel.js), reached
		// through the harness's loopback origin, where service workers are allowed.
		want := contents["results €.bin"]
		link, fragment := goSend(t, e, token, "correct horse battery", map[string][]byte{"page.bin": want})
		err := chromedp.Do(ctx,
			chromedp.Navigate(h.URL+"/p/"+link+"#"+fragment),
			chromedp.WaitVisible(`#unlock input[name="passphrase"]`),
			chromedp.SendKeys(`#unlock input[name="passphrase"]`, "correct horse battery"),
			chromedp.Click(`#unlock button[type="submit"]`),
			chromedp.WaitVisible(`#e2e-files button`),
			chromedp.Click(`#e2e-files button`))
		if err != nil {
			t.Fatal(err)
		}
		if d := h.download(t); d.State != cdpbrowser.DownloadProgressStateCompleted {
			t.Fatalf("the download ended %s", d.State)
		}
		b, err := os.ReadFile(filepath.Join(h.downloads, "page.bin"))
		if err != nil || sumHex(b) != sumHex(want) {
			t.Fatalf("the downloaded file: %d bytes, %v", len(b), err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("e2e-status").textContent.includes("saved")`)); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "sealed message") || !strings.Contains(text, sumHex(want)) {
			t.Fatalf("the page after the download: %s", text)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(h.URL+"/harness")); err != nil {
			t.Fatalf("back to the harness: %v", err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.title === "ready"`)); err != nil {
			t.Fatalf("back to the harness: %v", err)
		}
	})
	t.Run("Go to browser, service worker download", func(t *testing.T) {
		link, fragment := goSend(t, e, token, "", map[string][]byte{"download.bin": contents["results €.bin"]})
		got := call[receivedParcel](t, h, "receive", map[string]any{"token": link, "fragment": fragment, "sink": "sw"})
		if got.Error != "" || len(got.Files) != 1 {
			t.Fatalf("received %+v", got)
		}
		if d := h.download(t); d.State != cdpbrowser.DownloadProgressStateCompleted {
			t.Fatalf("the download ended %s", d.State)
		}
		b, err := os.ReadFile(filepath.Join(h.downloads, "download.bin"))
		if err != nil || sumHex(b) != sumHex(contents["results €.bin"]) {
			t.Fatalf("the downloaded file: %d bytes, %v", len(b), err)
		}
	})
	t.Run("browser to Go", func(t *testing.T) {
		type sentParcel struct {
			Error, Token, Fragment, SHA256 string
			Stored                         int64
			Phases                         map[string]int64
		}
		sent := call[sentParcel](t, h, "send", map[string]any{"token": token, "passphrase": "a passphrase", "size": 2<<20 + 999, "name": "from chromium.bin", "message": "hi from the browser"})
		if sent.Error != "" {
			t.Fatal(sent.Error)
		}
		if want := e2e.SealedSize(2<<20 + 999); sent.Stored != want || sent.Phases["upload"] != want || sent.Phases["encrypt"] != 2<<20+999 {
			t.Fatalf("stored %d bytes, progress %v; want %d sealed", sent.Stored, sent.Phases, want)
		}
		msg, got := goReceive(t, e, sent.Token, sent.Fragment, "a passphrase")
		if msg != "hi from the browser" || got["from chromium.bin"] != sent.SHA256 {
			t.Fatalf("Go received %q %v, the browser sent %s", msg, got, sent.SHA256)
		}
	})

	t.Run("failures", func(t *testing.T) {
		secret := e2e.NewSecret()
		keys := e2e.NewKeys(secret, nil)
		plain := random(3*e2e.ChunkSize + 10)
		sum := sha256.Sum256(plain)
		f, err := keys.NewFile("victim.bin", int64(len(plain)), sum[:])
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := f.Encrypt(&buf, bytes.NewReader(plain)); err != nil {
			t.Fatal(err)
		}
		sealed := buf.Bytes()
		const c = e2e.ChunkSize + 16
		flipped := bytes.Clone(sealed)
		flipped[e2e.HeaderSize+c+5] ^= 1
		h.serve("good", sealed)
		h.serve("tampered", flipped)
		h.serve("truncated", sealed[:e2e.HeaderSize+3*c]) // the final chunk is missing
		salt := e2e.NewSalt()
		wrongP, _, _ := e2e.Passphrase("wrong passphrase", salt)
		other := e2e.NewSecret()
		type result struct {
			OK      bool
			Code    string
			Message string
			Left    bool
		}
		for _, tc := range []struct {
			name, url, fragment, p, sink string
			ok                           bool
		}{
			{"intact", "good", secret.Fragment(), "", "opfs", true},
			{"tampered chunk", "tampered", secret.Fragment(), "", "opfs", false},
			{"truncated", "truncated", secret.Fragment(), "", "opfs", false},
			{"wrong key", "good", other.Fragment(), "", "opfs", false},
			{"wrong passphrase", "good", secret.Fragment(), hex.EncodeToString(wrongP), "opfs", false},
			{"tampered chunk, service worker", "tampered", secret.Fragment(), "", "sw", false},
			{"truncated, service worker", "truncated", secret.Fragment(), "", "sw", false},
		} {
			name := "f-" + tc.url + "-" + tc.sink + ".bin"
			r := call[result](t, h, "decryptFrom", map[string]any{"url": "/sealed/" + tc.url, "meta": f.Sealed, "fragment": tc.fragment,
				"p": tc.p, "sink": tc.sink, "name": name})
			if r.OK != tc.ok || (!tc.ok && (r.Code != "auth" || r.Left)) {
				t.Errorf("%s: %+v", tc.name, r)
				continue
			}
			t.Logf("%s: %s", tc.name, r.Message)
			if tc.sink == "sw" {
				d := h.download(t)
				if d.State == cdpbrowser.DownloadProgressStateCompleted {
					t.Errorf("%s: the service worker's download completed", tc.name)
				}
				if _, err := os.Stat(filepath.Join(h.downloads, name)); err == nil {
					t.Errorf("%s: %s was saved", tc.name, name)
				}
			}
		}
	})
}
