package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/testenv"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

// TestAlertsPage: an administrator marks a canary and makes a decoy on the Alerts tab,
// sees the alerts a user's reads raise, acknowledges one and lifts a suspension.
func TestAlertsPage(t *testing.T) {
	e, admin := adminEnv(t)
	tech := e.Token(t, "tech")
	e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/files/docs/bait.txt", Token: tech, Body: strings.NewReader("bait")})
	code, got := page(t, admin, "POST", e.URL+"/admin/alerts/canary", url.Values{"in": {"user"}, "name": {"tech"}, "path": {"/docs/bait.txt"}})
	mustContain(t, "mark a canary", code, 200, got, "is a canary", "home of tech", "/docs/bait.txt")
	if strings.Contains(got, "<td>canary</td>") {
		t.Fatal("marking a canary raised a canary alert")
	}
	code, got = page(t, admin, "POST", e.URL+"/admin/alerts/decoy", url.Values{"in": {"user"}, "name": {"tech"}, "path": {"/passwords.txt"}, "content": {"root:hunter2"}})
	mustContain(t, "make a decoy", code, 200, got, "is made and marked", "/passwords.txt")

	e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/docs/bait.txt", Token: tech})
	e.Core.Tripwires.Wait()
	code, got = page(t, admin, "GET", e.URL+"/admin/alerts", nil)
	mustContain(t, "alerts", code, 200, got, "<td>canary</td>", `<a href="/admin/users/tech">tech</a>`, "a canary file was opened for reading")
	m := regexp.MustCompile(`(?s)<td>canary</td>.*?name="id" value="(\d+)"`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("no acknowledge form:\n%s", got)
	}
	code, got = page(t, admin, "POST", e.URL+"/admin/alerts/ack", url.Values{"id": {m[1]}})
	mustContain(t, "acknowledge", code, 200, got, "The alert is acknowledged.")
	if strings.Contains(got, "a canary file was opened for reading") {
		t.Error("the acknowledged alert is still listed as open")
	}
	_, got = page(t, admin, "GET", e.URL+"/admin/alerts?all=1", nil)
	mustContain(t, "all alerts", 200, 200, got, "seen by boss")

	// Suspended by the decoy, lifted from the page.
	pol := e.Core.Tripwires.Policy()
	pol.OnCanary = tripwire.Suspend
	e.Core.Tripwires.SetPolicy(pol)
	resp, _ := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/passwords.txt", Token: tech})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("reading the decoy that suspends: %d", resp.StatusCode)
	}
	e.Core.Tripwires.Wait()
	_, got = page(t, admin, "GET", e.URL+"/admin/alerts", nil)
	mustContain(t, "suspension alert", 200, 200, got, "<td>suspend</td>", "Lift suspension")
	code, got = page(t, browserClient(e), "POST", e.URL+"/login", url.Values{"user": {"tech"}, "password": {"password-of-tech"}})
	mustContain(t, "web sign-in while suspended", code, http.StatusUnauthorized, got, "This account is suspended pending review")
	code, got = page(t, admin, "POST", e.URL+"/admin/alerts/lift", url.Values{"user": {"tech"}})
	mustContain(t, "lift", code, 200, got, "The suspension of tech is lifted")
	if resp, _ := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/docs/bait.txt", Token: tech}); resp.StatusCode != http.StatusUnauthorized {
		// still suspends: the canary is set to suspend, and a canary fires every time
		t.Errorf("reading the canary again after lifting: %d, want 401 (canaries fire on every read)", resp.StatusCode)
	}

	code, _ = page(t, signedIn(t, e, "boss", "password-of-boss"), "POST", e.URL+"/admin/alerts/lift", url.Values{"user": {"nobody"}})
	if code != http.StatusNotFound {
		t.Errorf("lifting an unknown user's suspension: %d, want 404", code)
	}
}
