package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/parcel"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// cutter is a TCP proxy in front of the server whose connections the test can cut, as a
// network failure or a closed laptop lid does. Uploads through it are slowed down so that
// a cut lands in the middle of one.
type cutter struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cuts   int
	gate   chan struct{} // while not nil, new connections wait for it to close (pause)
	closed bool          // the test ended: connections released by resume are dropped
}

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target}
	go c.serve()
	t.Cleanup(func() {
		ln.Close()
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.resume()
		c.cut()
	})
	return c
}

func (c *cutter) serve() {
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		gate := c.gate
		c.mu.Unlock()
		go c.forward(in, gate)
	}
}

// forward connects in to the target once gate (if any) is open.
func (c *cutter) forward(in net.Conn, gate chan struct{}) {
	if gate != nil {
		<-gate
	}
	out, err := net.Dial("tcp", c.target)
	if err != nil {
		in.Close()
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		in.Close()
		out.Close()
		return
	}
	c.conns = append(c.conns, in, out)
	c.mu.Unlock()
	go func() { slowCopy(out, in); out.Close() }()
	go func() { io.Copy(in, out); in.Close() }()
}

// pause holds new connections (accepted, not yet forwarded) until resume: the page's
// retry after a cut then waits while the test changes the server's state.
func (c *cutter) pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gate == nil {
		c.gate = make(chan struct{})
	}
}

func (c *cutter) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
}

// slowCopy copies at about 16 MB/s.
func slowCopy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			time.Sleep(time.Duration(n) * time.Second / (16 << 20))
		}
		if err != nil {
			return
		}
	}
}

// cut closes every connection open now.
func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
	c.cuts++
}

// cutAtAThird waits until the page's upload passed a third, then cuts; with hold, new
// connections are held (pause) from just before the cut until resume.
func (c *cutter) cutAtAThird(t *testing.T, ctx context.Context, hold bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(document.querySelector(".upload progress") || {value: 0}).value`))
		if err != nil {
			t.Fatal(err)
		}
		if v > 33 {
			break
		}
		if v >= 100 || time.Now().After(deadline) {
			t.Fatalf("progress %.0f%%: could not cut half way", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if hold {
		c.pause()
	}
	c.cut()
}

// TestBrowserResumesAfterCut uploads 50 MiB from Chromium, cuts the network half way,
// and checks that the page resumes by itself to a file with the right SHA-256.
func TestBrowserResumesAfterCut(t *testing.T) {
	if raceEnabled {
		// In the race-detector run of every package at once, this test twice outlived its
		// time in CI with Chromium gone (18 s alone). .ci/run runs it in a step of its
		// own, without -race, until that is understood.
		t.Skip("runs without -race (.ci/run has a step for it)")
	}
	ctx := browser(t, 6*time.Minute)
	e := testenv.New(t, testenv.Options{})
	e.User(t, "tech", 0)
	proxy := newCutter(t, e.URL[len("https://"):])
	base := "https://" + proxy.ln.Addr().String()

	local, data := scanFile(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "tech"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "password-of-tech"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#listing`)),
		chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][data-upload]:not([webkitdirectory])`), []string{local}),
	)
	if err != nil {
		t.Fatal(err)
	}
	proxy.cutAtAThird(t, ctx, false)
	if os.Getenv("COFFER_SCREENSHOTS") != "" {
		shot(t, ctx, "upload-progress.png")
	}
	// The page retries on its own and the file appears when it is complete.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`tr[data-name="scan.raw"]`))); err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`#uploads`)))
		t.Fatalf("the upload did not complete after the cut: %v (%s)", err, msg)
	}
	u, err := e.Core.DB.Q().UserByName(context.Background(), "tech")
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.Core.Files.Stat(context.Background(), auth.Principal{UserID: u.ID, Name: u.Name}, "/scan.raw")
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); st.Size != int64(len(data)) || !bytes.Equal(st.SHA256, sum[:]) {
		t.Fatalf("after the cut and resume the file has %d bytes and another SHA-256", st.Size)
	}
	// It was resumed, not sent again from the start: the audit record says where.
	recs, err := e.Core.DB.Q().AuditQuery(context.Background(), db.AuditFilter{Actor: "tech", Action: "file.upload"}, 5)
	if err != nil || len(recs) == 0 || recs[0].Result != "ok" || !strings.Contains(recs[0].Detail, "resumed at byte") {
		t.Errorf("the completion is not recorded as resumed: %+v, %v", recs, err)
	}
	if proxy.cuts == 0 {
		t.Error("the connection was never cut")
	}
}

// scanFile writes 50 MiB of random bytes to scan.raw in a temporary directory.
func scanFile(t *testing.T) (string, []byte) {
	t.Helper()
	data := make([]byte, 50<<20)
	rand.Read(data)
	local := filepath.Join(t.TempDir(), "scan.raw")
	if err := os.WriteFile(local, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return local, data
}

// parcelBrowser skips under -race (.ci/run runs these tests in a step of their own) and
// returns a browser, a server and its user "tech" as a principal, to own parcels.
func parcelBrowser(t *testing.T) (context.Context, *testenv.Env, auth.Principal) {
	t.Helper()
	if raceEnabled {
		t.Skip("runs without -race (.ci/run has a step for it)")
	}
	ctx := browser(t, 6*time.Minute)
	e := testenv.New(t, testenv.Options{})
	e.User(t, "tech", 0)
	u, err := e.Core.DB.Q().UserByName(context.Background(), "tech")
	if err != nil {
		t.Fatal(err)
	}
	return ctx, e, auth.Principal{UserID: u.ID, Name: u.Name}
}

// TestBrowserRequestResumesAfterCut uploads 50 MiB into a request from its link's page,
// cuts the network a third of the way, and checks that the page resumes the same tus
// upload by itself to a file with the right SHA-256.
func TestBrowserRequestResumesAfterCut(t *testing.T) {
	ctx, e, owner := parcelBrowser(t)
	p, links, err := e.Core.Parcels.Create(context.Background(), owner, parcel.NewParcel{Kind: parcel.KindRequest, Subject: "the scan, please"})
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutter(t, e.URL[len("https://"):])
	local, data := scanFile(t)
	err = chromedp.Do(ctx,
		chromedp.Navigate("https://"+proxy.ln.Addr().String()+"/p/"+links[0].Token),
		chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][data-upload]`), []string{local}),
	)
	if err != nil {
		t.Fatal(err)
	}
	proxy.cutAtAThird(t, ctx, false)
	// The page retries on its own, and reloads with the file listed when it is complete.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#parcel-files tr[data-file]`))); err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`#uploads`)))
		t.Fatalf("the upload did not complete after the cut: %v (%s)", err, msg)
	}
	got, err := e.Core.Parcels.Get(context.Background(), owner, p.ID)
	if err != nil || len(got.Files) != 1 {
		t.Fatalf("the request has %+v, %v", got.Files, err)
	}
	if sum := sha256.Sum256(data); got.Files[0].Name != "scan.raw" || got.Files[0].Size != int64(len(data)) || !bytes.Equal(got.Files[0].SHA256, sum[:]) {
		t.Fatalf("after the cut and resume the file is %+v", got.Files[0])
	}
	// It was resumed, not sent again from the start: one upload was begun, and it ended.
	recs, err := e.Core.DB.Q().AuditQuery(context.Background(), db.AuditFilter{Action: "parcel.upload.start"}, 5)
	if err != nil || len(recs) != 1 {
		t.Errorf("%d resumable uploads were begun, want 1 (%v)", len(recs), err)
	}
	if proxy.cuts == 0 {
		t.Error("the connection was never cut")
	}
}

// TestBrowserUploadStopsWhenDraftSent: while the owner's page uploads a file into a draft,
// the draft is sent (from another tab, say). The page's next request after a cut meets a
// parcel that takes no more files: it must say so at once and stop, not retry for
// minutes as if the network were down.
func TestBrowserUploadStopsWhenDraftSent(t *testing.T) {
	ctx, e, owner := parcelBrowser(t)
	p, _, err := e.Core.Parcels.Create(context.Background(), owner, parcel.NewParcel{Subject: "week 48", Recipients: []string{"ann@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Core.Parcels.AddFile(context.Background(), owner, p.ID, "summary.txt", strings.NewReader("summary"), 7, nil); err != nil {
		t.Fatal(err)
	}
	proxy := newCutter(t, e.URL[len("https://"):])
	local, _ := scanFile(t)
	signIn(t, ctx, "https://"+proxy.ln.Addr().String()+"/parcels/"+p.ID, `#send`)
	step(t, ctx, "upload into the draft", chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][data-upload]`), []string{local}))
	proxy.cutAtAThird(t, ctx, true)
	if _, _, err := e.Core.Parcels.Send(context.Background(), owner, p.ID, ""); err != nil {
		t.Fatal(err)
	}
	proxy.resume()
	const final = "no longer takes files"
	deadline := time.Now().Add(30 * time.Second) // the page's retries would take two minutes
	for {
		state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const r = document.querySelector("#uploads [data-state]"); return r ? r.dataset.state + "|" + r.querySelector(".upload-status").textContent : ""; })()`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(state, "error|") && strings.Contains(state, final) {
			break
		}
		if strings.HasPrefix(state, "error|") || strings.HasPrefix(state, "done|") || time.Now().After(deadline) {
			t.Fatalf("after the draft was sent mid-upload the page shows %q; want an error saying the parcel %s", state, final)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, err := e.Core.Parcels.Get(context.Background(), owner, p.ID)
	if err != nil || len(got.Files) != 1 {
		t.Fatalf("the sent parcel has %+v, %v; want only the file it had when sent", got.Files, err)
	}
}
