package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// browser starts headless Chromium for a test, which must finish within limit (the race
// detector makes the server several times slower), or skips it when there is no
// Chromium (CI sets COFFER_TEST_REQUIRE_BROWSER=1 to fail instead).
func browser(t testing.TB, limit time.Duration) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("COFFER_TEST_REQUIRE_BROWSER") != "" {
			t.Fatal("no Chromium, and COFFER_TEST_REQUIRE_BROWSER is set (apt-get install chromium)")
		}
		t.Skip("no Chromium (apt-get install chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.IgnoreCertErrors, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 860),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelC := context.WithTimeout(ctx, limit)
	t.Cleanup(func() { cancelC(); cancelB(); cancelA() })
	return ctx
}

// shot saves a screenshot of the page when COFFER_SCREENSHOTS names a directory (this is
// how docs/screenshots is made).
func shot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("COFFER_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// textOf is the text of the first element that sel matches in ctx's page ("" if none).
func textOf(ctx context.Context, sel string) string {
	s, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	return s
}

// step runs actions in ctx's page, or fails the test with what and the page's text.
func step(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v\npage: %s", what, err, textOf(ctx, "main"))
	}
}

// signIn goes to u, signs in as tech on the sign-in page it leads to, and waits for
// the element wait.
func signIn(t testing.TB, ctx context.Context, u, wait string) {
	t.Helper()
	step(t, ctx, "sign in",
		chromedp.Navigate(u),
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "tech"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "password-of-tech"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(wait)),
	)
}

// TestBrowserUpload signs in with Chromium, uploads a file with the upload button (our
// tus client), finds it listed and stored intact, and shows a hostile name as text.
func TestBrowserUpload(t *testing.T) {
	ctx := browser(t, 5*time.Minute) // a hang guard: on 2 loaded cores beside other packages it took over 2 minutes
	e := testenv.New(t, testenv.Options{})
	e.User(t, "tech", 0)
	u, err := e.Core.DB.Q().UserByName(context.Background(), "tech")
	if err != nil {
		t.Fatal(err)
	}
	p := auth.Principal{UserID: u.ID, Name: u.Name}
	evil := "<img src=x onerror=alert(1)>.txt"
	if _, err := e.Core.Files.Create(context.Background(), p, "/"+evil, bytes.NewReader([]byte("x")), files.CreateOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Core.Files.Mkdir(context.Background(), p, "/Lab results 2026", false); err != nil {
		t.Fatal(err)
	}

	data := make([]byte, 12<<20+777)
	rand.Read(data)
	local := filepath.Join(t.TempDir(), "run-0427.bin")
	if err := os.WriteFile(local, data, 0o600); err != nil {
		t.Fatal(err)
	}

	err = chromedp.Do(ctx,
		chromedp.Navigate(e.URL+"/files/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=user]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, "sign-in.png")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "tech"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "password-of-tech"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#listing`)),
	)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	// The hostile name is text, not an element.
	imgs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#listing img").length`))
	if err != nil || imgs != 0 {
		t.Fatalf("a file name became markup: %d img elements, %v", imgs, err)
	}
	names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#listing td.name a")].map(a => a.textContent)`))
	if err != nil || len(names) != 2 || names[0] != evil {
		t.Fatalf("the listing shows %q, %v; want the hostile name as text first", names, err)
	}

	// The progress panel opens when the file is chosen, and the page reloads once the
	// upload is done; a fast upload can reload before a test sees the panel (waiting for
	// it then hung until the deadline). So the page itself records, in sessionStorage
	// (which a reload keeps), that the panel showed the file's row.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const panel = document.getElementById("uploads");
		new MutationObserver(() => {
			const row = panel.querySelector(".upload-name");
			if (!panel.hidden && row && row.textContent === "/run-0427.bin") sessionStorage.setItem("panel", "shown");
		}).observe(panel, { attributes: true, childList: true, subtree: true });
		return true;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][data-upload]:not([webkitdirectory])`), []string{local})); err != nil {
		t.Fatalf("choose the file: %v", err)
	}
	// When every upload is done the page reloads and lists the new file. The wait ends
	// before the test's deadline, so that the page can still be read to say why.
	wait, cancel := context.WithTimeout(ctx, 3*time.Minute)
	err = chromedp.Do(wait, chromedp.WaitVisible(chromedp.CSS(`tr[data-name="run-0427.bin"]`)))
	cancel()
	if err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`body`)))
		t.Fatalf("the uploaded file is not listed: %v\n%s", err, msg)
	}
	if shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("panel") || ""`)); err != nil || shown != "shown" {
		t.Fatalf("the progress panel did not show the upload (%q, %v)", shown, err)
	}
	shot(t, ctx, "files.png")
	e2, err := e.Core.Files.Stat(context.Background(), p, "/run-0427.bin")
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); e2.Size != int64(len(data)) || !bytes.Equal(e2.SHA256, sum[:]) {
		t.Fatalf("stored %d bytes with another SHA-256", e2.Size)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/account"), chromedp.WaitVisible(chromedp.CSS(`main h1`))); err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, "account.png")
}

// TestBrowserFilesChosenBeforeScript: on a slow line the upload button shows before the
// page's (deferred) upload script has run. Files chosen then are uploaded once it runs,
// instead of being ignored. The test holds upload.js in the browser until the file is
// chosen.
func TestBrowserFilesChosenBeforeScript(t *testing.T) {
	ctx := browser(t, 3*time.Minute)
	e := testenv.New(t, testenv.Options{})
	e.User(t, "tech", 0)
	local := filepath.Join(t.TempDir(), "early.csv")
	if err := os.WriteFile(local, []byte("sample,result\n1,ok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	paused := make(chan fetch.RequestID, 1)
	if err := chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*fetch.EventRequestPaused); ok {
			select {
			case paused <- ev.RequestID:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/static/upload.js*"}}}); err != nil {
		t.Fatal(err)
	}
	signIn(t, ctx, e.URL+"/files/", "#listing")
	var id fetch.RequestID
	select {
	case id = <-paused:
	case <-ctx.Done():
		t.Fatal("the files page never asked for upload.js")
	}
	step(t, ctx, "choose the file while upload.js is held",
		chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][data-upload]:not([webkitdirectory])`), []string{local}))
	if _, err := chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id}); err != nil {
		t.Fatal(err)
	}
	// A few seconds suffice; the old page never sent the file.
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	step(t, wait, "the file is uploaded and listed", chromedp.WaitVisible(chromedp.CSS(`tr[data-name="early.csv"]`)))
}
