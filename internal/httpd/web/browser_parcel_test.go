package web_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// download clicks sel in ctx's page and returns the downloaded file's content.
func download(t *testing.T, ctx context.Context, sel string) []byte {
	t.Helper()
	dir := t.TempDir()
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true),
				BrowserContextID: chromedp.FromContext(ctx).BrowserContextID})
			return err
		}),
		chromedp.Click(chromedp.CSS(sel)),
	)
	if err != nil {
		t.Fatalf("download %s: %v", sel, err)
	}
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download %s: %v", sel, err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			t.Fatalf("the download of %s was cancelled", sel)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			b, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no download of %s", sel)
	return nil
}

// TestBrowserParcels: tech sends a parcel of two files with the pages; the recipient, in
// a browser context of their own (no session), downloads a file and the zip, intact.
// Then tech requests files; the recipient uploads one and finishes; tech downloads it.
func TestBrowserParcels(t *testing.T) {
	if raceEnabled {
		// Two browser contexts and 7 MB through the race-detected server outlast the
		// package's budget in the run of every package at once; .ci/run runs this package
		// again without -race (on PostgreSQL and S3), and this test with it.
		t.Skip("runs without -race")
	}
	ctx := browser(t, 5*time.Minute)
	pe := newParcelEnv(t)
	e := pe.e
	big := make([]byte, 3<<20+123)
	rand.Read(big)
	small := []byte("minutes of the meeting\n")
	local := t.TempDir()
	for name, b := range map[string][]byte{"measurements.bin": big, "minutes.txt": small} {
		if err := os.WriteFile(filepath.Join(local, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	signIn(t, ctx, e.URL+"/parcels/", `#parcels`)
	step(t, ctx, "send form",
		chromedp.Click(chromedp.CSS(`a[href="/parcels/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-parcel`)),
		chromedp.SendKeys(chromedp.CSS(`#new-parcel input[name=subject]`), "Lab results week 48"),
		chromedp.SendKeys(chromedp.CSS(`#new-parcel textarea[name=message]`), "Hello Ann,\nhere are this week's results."),
		chromedp.SendKeys(chromedp.CSS(`#new-parcel textarea[name=recipients]`), "ann@example.org"),
	)
	shot(t, ctx, "parcel-send.png")
	step(t, ctx, "create the draft, add files",
		chromedp.Submit(chromedp.CSS(`#new-parcel input[name=subject]`)),
		chromedp.WaitVisible(chromedp.CSS(`#send`)),
		chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][data-upload]`), []string{filepath.Join(local, "measurements.bin"), filepath.Join(local, "minutes.txt")}),
	)
	// When both uploads are done the page reloads and lists them, and "Send" is enabled.
	step(t, ctx, "uploads listed", chromedp.WaitVisible(chromedp.CSS(`#send button:not([disabled])`)))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#owner-files tr[data-file]").length`)); n != 2 || err != nil {
		t.Fatalf("%d files listed (%v)", n, err)
	}
	step(t, ctx, "send", chromedp.Click(chromedp.CSS(`#send button`)), chromedp.WaitVisible(chromedp.CSS(`#links`)))
	link := textOf(ctx, `#links [data-link]`)
	if !regexp.MustCompile(`^https://[^/]+/p/[A-Za-z0-9_-]{32}$`).MatchString(link) {
		t.Fatalf("link %q", link)
	}

	// The recipient: a browser context of their own, without tech's session.
	rctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	step(t, rctx, "recipient page", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`#parcel-files`)))
	if got := textOf(rctx, "main h1"); got != "Lab results week 48" {
		t.Fatalf("recipient page heading %q", got)
	}
	if nav := textOf(rctx, "body"); strings.Contains(nav, "Sign out") {
		t.Fatal("the recipient has tech's session")
	}
	shot(t, rctx, "parcel-recipient.png")
	sum := sha256.Sum256(big)
	if got := download(t, rctx, `#parcel-files a[data-file-link][href$="`+fileIDOf(t, rctx, "measurements.bin")+`"]`); !bytes.Equal(got, big) {
		t.Fatalf("downloaded %d bytes, want %d", len(got), len(big))
	}
	shown := textOf(rctx, `#parcel-files tr[data-file="`+fileIDOf(t, rctx, "measurements.bin")+`"] [data-sha]`)
	if shown != hex.EncodeToString(sum[:]) {
		t.Fatalf("the page shows SHA-256 %q", shown)
	}
	zb := download(t, rctx, `#zip`)
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil {
		t.Fatalf("zip: %v", err)
	}
	want := map[string][]byte{"measurements.bin": big, "minutes.txt": small}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		if err != nil || sha256.Sum256(b) != sha256.Sum256(want[f.Name]) {
			t.Fatalf("zip member %s: %d bytes, %v", f.Name, len(b), err)
		}
		delete(want, f.Name)
	}
	if len(want) != 0 {
		t.Fatalf("the zip lacks %v", want)
	}

	// Tech sees the receipts.
	step(t, ctx, "receipts", chromedp.Navigate(e.URL+"/parcels/"), chromedp.Click(chromedp.CSS(`#parcels td.name a`)), chromedp.WaitVisible(chromedp.CSS(`#recipients`)))
	if r := textOf(ctx, "#recipients"); !strings.Contains(r, "measurements.bin: 2×") || !strings.Contains(r, "minutes.txt: 1×") {
		t.Fatalf("receipts: %s", r)
	}
	shot(t, ctx, "parcel-receipts.png")

	// A request: tech asks, the recipient uploads, tech downloads.
	step(t, ctx, "request form",
		chromedp.Navigate(e.URL+"/parcels/new?kind=request"),
		chromedp.SendKeys(chromedp.CSS(`#new-parcel input[name=subject]`), "Signed contract"),
		chromedp.SendKeys(chromedp.CSS(`#new-parcel textarea[name=recipients]`), "carol@example.org"),
		chromedp.Submit(chromedp.CSS(`#new-parcel input[name=subject]`)),
		chromedp.WaitVisible(chromedp.CSS(`#links`)),
	)
	reqLink := textOf(ctx, `#links [data-link]`)
	step(t, rctx, "upload page",
		chromedp.Navigate(reqLink),
		chromedp.WaitVisible(chromedp.CSS(`#finished`)),
		chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][data-upload]`), []string{filepath.Join(local, "measurements.bin")}),
	)
	step(t, rctx, "upload listed", chromedp.WaitVisible(chromedp.CSS(`#parcel-files tr[data-file]`)))
	step(t, rctx, "finished", chromedp.Click(chromedp.CSS(`#finished`)), chromedp.WaitVisible(chromedp.CSS(`.alert.ok`)))
	step(t, ctx, "my parcels", chromedp.Navigate(e.URL+"/parcels/"), chromedp.WaitVisible(chromedp.CSS(`#parcels`)))
	// The request by its subject, not by its row: two parcels made in the same second
	// may be listed in either order.
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#parcels td.name a")].find(a => a.textContent.includes("Signed contract")).getAttribute("href")`))
	if err != nil {
		t.Fatalf("the request in my parcels: %v", err)
	}
	step(t, ctx, "what arrived", chromedp.Navigate(e.URL+href), chromedp.WaitVisible(chromedp.CSS(`#owner-files a[download]`)))
	if got := download(t, ctx, `#owner-files a[download]`); !bytes.Equal(got, big) {
		t.Fatalf("the requester downloaded %d bytes, want %d", len(got), len(big))
	}
}

// fileIDOf finds the id of the file named name on the recipient page.
func fileIDOf(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#parcel-files tr[data-file]")].find(r => r.querySelector("a").textContent === `+strconv.Quote(name)+`).dataset.file`))
	if err != nil {
		t.Fatalf("no file %s on the page: %v", name, err)
	}
	return id
}
