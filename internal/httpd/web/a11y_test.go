package web_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	ctx := browser(t, 3*time.Minute)
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
	for _, p := range []string{"/account", "/admin/", "/admin/users", "/admin/users/tech", "/admin/groups", "/admin/folders", "/admin/sessions", "/admin/bans", "/admin/audit"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+p), chromedp.WaitVisible(chromedp.CSS(`main h1`))); err != nil {
			t.Fatal(err)
		}
		check(p)
	}
}
