package web_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/parcel"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// TestBrowserAccessibility runs axe-core (the accessibility engine browsers' audits use)
// on every page, signed in as an administrator, and fails on any violation of a WCAG 2.1 A
// or AA rule (labels, names, contrast, landmarks, ARIA...). COFFER_TEST_AXE names axe.min.js
// (.ci/run fetches it with npm pack axe-core); without it the test is skipped.
func TestBrowserAccessibility(t *testing.T) {
	path := os.Getenv("COFFER_TEST_AXE")
	if path == "" {
		if os.Getenv("COFFER_TEST_REQUIRE_BROWSER") != "" {
			t.Fatal("COFFER_TEST_AXE is not set, and COFFER_TEST_REQUIRE_BROWSER is (.ci/run fetches axe-core)")
		}
		t.Skip("COFFER_TEST_AXE is not set (npm pack axe-core; tar xzf; point it at package/axe.min.js)")
	}
	axe, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t, 5*time.Minute) // 25 pages
	e, admin := adminEnv(t)
	page(t, admin, "POST", e.URL+"/admin/groups", map[string][]string{"name": {"lab"}})
	check := func(name string) {
		t.Helper()
		// Evaluated through the DevTools protocol, so the page's CSP does not apply.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](string(axe)+";true")); err != nil {
			t.Fatalf("load axe on %s: %v", name, err)
		}
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}).then(r => JSON.stringify(r.violations))`,
			chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("axe on %s: %v", name, err)
		}
		var violations []struct {
			ID, Impact, Help string
			Nodes            []struct{ HTML string }
		}
		if err := json.Unmarshal([]byte(out), &violations); err != nil {
			t.Fatal(err)
		}
		var bad []string
		for _, v := range violations {
			example := ""
			if len(v.Nodes) > 0 {
				example = v.Nodes[0].HTML
			}
			bad = append(bad, fmt.Sprintf("%s (%s): %s, %d elements, e.g. %s", v.ID, v.Impact, v.Help, len(v.Nodes), example))
		}
		if len(bad) > 0 {
			t.Errorf("%s: %s", name, strings.Join(bad, "\n\t"))
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/login"), chromedp.WaitVisible(chromedp.CSS(`input[name=user]`))); err != nil {
		t.Fatal(err)
	}
	check("/login")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "boss"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "password-of-boss"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#listing`)),
	); err != nil {
		t.Fatal(err)
	}
	check("/files/")
	// Parcels of boss's: sent (with and without a passphrase) and a request, for their
	// pages and the recipients' pages.
	pages := []string{"/account", "/admin/", "/admin/users", "/admin/users/tech", "/admin/groups", "/admin/folders", "/admin/sessions", "/admin/bans", "/admin/audit",
		"/admin/parcels", "/parcels/", "/parcels/new", "/parcels/new?kind=request", "/p/" + strings.Repeat("A", 32)}
	pages = append(pages, a11yParcels(t, e)...)
	for _, p := range pages {
		if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+p), chromedp.WaitVisible(chromedp.CSS(`main h1`))); err != nil {
			t.Fatal(err)
		}
		check(p)
	}
}

// a11yParcels makes parcels of boss's and returns the pages that show them: the owner's
// page of each, and the recipient's page of each link.
func a11yParcels(t *testing.T, e *testenv.Env) []string {
	u, err := e.Core.DB.Q().UserByName(t.Context(), "boss")
	if err != nil {
		t.Fatal(err)
	}
	boss := auth.Principal{UserID: u.ID, Name: u.Name}
	ps := e.Core.Parcels
	var out []string
	for _, np := range []parcel.NewParcel{{Subject: "plain", Message: "Hello"}, {Subject: "locked", Passphrase: "correct horse"}, {Subject: "draft"}} {
		p, _, err := ps.Create(t.Context(), boss, np)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, "/parcels/"+p.ID)
		if np.Subject == "draft" {
			continue
		}
		for _, name := range []string{"a.txt", "b.txt"} {
			if _, err := ps.AddFile(t.Context(), boss, p.ID, name, strings.NewReader(name), int64(len(name)), nil); err != nil {
				t.Fatal(err)
			}
		}
		_, links, err := ps.Send(t.Context(), boss, p.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, "/p/"+links[0].Token)
	}
	p, links, err := ps.Create(t.Context(), boss, parcel.NewParcel{Kind: parcel.KindRequest, Subject: "request", Message: "Please"})
	if err != nil {
		t.Fatal(err)
	}
	return append(out, "/parcels/"+p.ID, "/p/"+links[0].Token)
}
