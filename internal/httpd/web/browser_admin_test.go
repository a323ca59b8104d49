package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// TestBrowserAdminAndFiles drives Chromium through a working day: an administrator signs
// in with a TOTP code, looks at the dashboard, creates a user; a forged cross-site form
// aimed at the administrator's session is refused; the new user signs in, downloads,
// renames and deletes a file.
func TestBrowserAdminAndFiles(t *testing.T) {
	ctx := browser(t, 5*time.Minute)
	e, admin := adminEnv(t)
	key := enrol(t, e, admin)
	text := func(sel string) string {
		s, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		return s
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v\npage: %s", what, err, text("main"))
		}
	}

	step("password step",
		chromedp.Navigate(e.URL+"/admin/"),
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "boss"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "password-of-boss"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)),
	)
	step("code step",
		chromedp.SendKeys(chromedp.CSS(`input[name=code]`), auth.TOTPCode(key, time.Now())),
		chromedp.Submit(chromedp.CSS(`input[name=code]`)),
		chromedp.WaitVisible(chromedp.CSS(`.card.chain.ok`)),
	)
	shot(t, ctx, "admin-dashboard.png")

	step("create a user",
		chromedp.Navigate(e.URL+"/admin/users"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/admin/users"] input[name=name]`), "newbie"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/admin/users"] input[name=password]`), "password-of-newbie"),
		chromedp.Submit(chromedp.CSS(`form[action="/admin/users"] input[name=name]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/users/newbie"]`)),
	)
	shot(t, ctx, "admin-users.png")
	step("user page", chromedp.Navigate(e.URL+"/admin/users/newbie"), chromedp.WaitVisible(chromedp.CSS(`form[action="/admin/users/newbie/settings"]`)))
	shot(t, ctx, "admin-user.png")

	// Another site's page posts a form to Coffer while the administrator is signed in.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/admin/users"><input name="name" value="mallory"><input name="password" value="password-of-mallory"><input name="admin" value="on"></form><script>document.getElementById("f").submit()</script>`, e.URL)
	}))
	defer evil.Close()
	step("forged cross-site form", chromedp.Navigate(evil.URL))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`location.pathname === "/admin/users" && document.readyState === "complete"`)); err != nil {
		t.Fatalf("the forged form did not reach Coffer: %v", err)
	}
	if body := text("body"); !strings.Contains(body, "cross-origin request refused") {
		t.Fatalf("the forged form got %q", body)
	}
	if _, err := e.Core.DB.Q().UserByName(context.Background(), "mallory"); !errs.Is(errs.NotFound, err) {
		t.Fatalf("the forged form created a user (or the lookup failed: %v); the page said %q", err, text("body"))
	}

	step("audit log", chromedp.Navigate(e.URL+"/admin/audit"), chromedp.WaitVisible(chromedp.CSS(`form.filters`)))
	shot(t, ctx, "admin-audit.png")

	step("sign out", chromedp.Navigate(e.URL+"/files/"), chromedp.Click(chromedp.CSS(`header form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`input[name=user]`)))
	nb, err := e.Core.DB.Q().UserByName(context.Background(), "newbie")
	if err != nil {
		t.Fatal(err)
	}
	newbie := auth.Principal{UserID: nb.ID, Name: nb.Name}
	content := strings.Repeat("patient,result\n1042,negative\n", 4000)
	if _, err := e.Core.Files.Create(context.Background(), newbie, "/report.csv", strings.NewReader(content), files.CreateOptions{Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	step("newbie signs in",
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "newbie"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "password-of-newbie"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-name="report.csv"]`)),
	)

	dir := t.TempDir()
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	step("download",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true)})
			return err
		}),
		chromedp.Click(chromedp.CSS(`tr[data-name="report.csv"] td.name a`)),
	)
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			t.Fatal("the download was cancelled")
		}
		if ev.State != cdpbrowser.DownloadProgressStateCompleted {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, ev.GUID))
		if err != nil || string(got) != content {
			t.Fatalf("downloaded %d bytes (%v), want the %d stored", len(got), err, len(content))
		}
		break
	}

	step("rename",
		chromedp.Click(chromedp.CSS(`tr[data-name="report.csv"] [data-rename]`)),
		chromedp.SetValue(chromedp.CSS(`#rename-dialog input[name=to]`), "/report-final.csv"),
		chromedp.Click(chromedp.CSS(`#rename-dialog button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-name="report-final.csv"]`)),
	)
	step("delete",
		chromedp.Click(chromedp.CSS(`tr[data-name="report-final.csv"] [data-delete]`)),
		chromedp.WaitVisible(chromedp.CSS(`#delete-dialog`)),
		chromedp.Click(chromedp.CSS(`#delete-dialog button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`td.empty`)),
	)
	if _, err := e.Core.Files.Stat(context.Background(), newbie, "/report-final.csv"); !errs.Is(errs.NotFound, err) {
		t.Fatalf("after delete: %v", err)
	}

	// At a phone's width no page scrolls sideways (wide tables scroll inside their card).
	step("phone width", chromedp.EmulateViewport(390, 844))
	for _, path := range []string{"/files/", "/account"} {
		step("phone "+path, chromedp.Navigate(e.URL+path), chromedp.WaitVisible(chromedp.CSS(`main h1, #listing`)))
		wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
		if err != nil || wide {
			t.Fatalf("%s is wider than a phone's screen (%v)", path, err)
		}
	}
	shot(t, ctx, "phone-account.png")
}
