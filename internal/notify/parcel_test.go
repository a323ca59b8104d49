package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/notify"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// mailEnv is a whole server whose notifications go to a real mail server over STARTTLS,
// configured as an administrator would (--smtp-url with a CA file, --mail-from,
// --public-url).
func mailEnv(t *testing.T) (*testenv.Env, *notify.Mailpit) {
	mp := notify.StartMailpit(t, notify.MailpitOptions{TLS: notify.TLSStartTLS})
	e := testenv.New(t, testenv.Options{Mail: config.Mail{
		SMTPURL:   "smtp://127.0.0.1:" + strconv.Itoa(mp.Port) + "?ca=" + mp.Cert,
		From:      "Coffer <coffer@example.org>",
		PublicURL: "https://files.example.org/",
	}})
	if e.Core.Mail == nil {
		t.Fatal("mail is configured but the server has no outbox")
	}
	return e, mp
}

func deliver(t *testing.T, e *testenv.Env, want int) {
	t.Helper()
	n, err := e.Core.Mail.Deliver(context.Background())
	if err != nil || n != want {
		t.Fatalf("delivered %d, %v; want %d", n, err, want)
	}
}

func call(t *testing.T, e *testenv.Env, r testenv.Request, status int, out any) {
	t.Helper()
	res, body := e.Do(t, r)
	if res.StatusCode != status {
		t.Fatalf("%s %s: %s %s", r.Method, r.Path, res.Status, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatal(err)
		}
	}
}

func setEmail(t *testing.T, e *testenv.Env, user, email string) {
	t.Helper()
	u, err := e.Core.DB.Q().UserByName(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Core.DB.Q().SetUserEmail(context.Background(), u.ID, email); err != nil {
		t.Fatal(err)
	}
}

// A token may end in '-' or '_', after which \b would not match.
var linkRE = regexp.MustCompile(`https://files\.example\.org/p/([A-Za-z0-9_-]{32})(?:[^A-Za-z0-9_-]|$)`)

// mailTo returns the one message mailpit holds for to, and the link token in it.
func mailTo(t *testing.T, mp *notify.Mailpit, to string) (notify.Received, string) {
	t.Helper()
	var found []notify.Received
	for _, m := range mp.Messages(t) {
		if len(m.To) == 1 && m.To[0].Address == to {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d mails to %s, want 1", len(found), to)
	}
	found[0].Text = strings.ReplaceAll(found[0].Text, "\r\n", "\n")
	token := ""
	if m := linkRE.FindStringSubmatch(found[0].Text); m != nil {
		token = m[1]
	}
	return found[0], token
}

// TestParcelMails: a sent parcel e-mails each recipient their own working link, with the
// sender, subject, message, expiry and a passphrase hint but never the passphrase; the
// first download tells the sender. Every user-supplied field is escaped in HTML.
func TestParcelMails(t *testing.T) {
	e, mp := mailEnv(t)
	alice := e.User(t, "alice", 0)
	setEmail(t, e, "alice", "alice@example.org")
	const passphrase = "correct horse battery staple"
	var p struct {
		ID    string
		Links []struct{ Email, Token string }
	}
	call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: alice, JSON: map[string]any{
		"subject": "Q3 <b>report</b>", "message": "Hi Bob & Carol,\n<script>alert(1)</script>", "notify": true,
		"recipients": []string{"bob@example.org", "carol@example.org"}, "passphrase": passphrase}}, http.StatusCreated, &p)
	call(t, e, testenv.Request{Method: "PUT", Path: "/api/v1/parcels/" + p.ID + "/files/report.txt", Token: alice,
		Body: strings.NewReader("the numbers")}, http.StatusCreated, nil)
	deliver(t, e, 0) // a draft e-mails nobody
	call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/parcels/" + p.ID + "/send", Token: alice, JSON: map[string]any{}}, http.StatusOK, &p)
	deliver(t, e, 2)

	tokens := map[string]string{}
	for _, l := range p.Links {
		tokens[l.Email] = l.Token
	}
	m, token := mailTo(t, mp, "bob@example.org")
	if token != tokens["bob@example.org"] {
		t.Fatalf("the mail's link token %q is not bob's link %q:\n%s", token, tokens["bob@example.org"], m.Text)
	}
	if _, carols := mailTo(t, mp, "carol@example.org"); carols != tokens["carol@example.org"] || carols == token {
		t.Fatal("carol did not get her own link")
	}
	if m.Subject != "alice sent you files: Q3 <b>report</b>" || m.From.Address != "coffer@example.org" || m.From.Name != "Coffer" {
		t.Errorf("subject %q from %+v", m.Subject, m.From)
	}
	for _, want := range []string{"alice sent you files", "Q3 <b>report</b>", "Hi Bob & Carol,\n<script>alert(1)</script>", "passphrase", " UTC"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the text lacks %q:\n%s", want, m.Text)
		}
	}
	for _, want := range []string{"Q3 &lt;b&gt;report&lt;/b&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;", "Bob &amp; Carol", `href="https://files.example.org/p/` + token + `"`} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("the HTML lacks %q:\n%s", want, m.HTML)
		}
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>report") {
		t.Errorf("user text reached the HTML as markup:\n%s", m.HTML)
	}
	if strings.Contains(m.Text+m.HTML, passphrase) {
		t.Error("the passphrase is in the mail")
	}

	// The link works: the API shows the parcel to the token from the mail.
	var view struct{ Subject, Sender string }
	call(t, e, testenv.Request{Method: "GET", Path: "/api/v1/p/" + token}, http.StatusOK, &view)
	if view.Subject != "Q3 <b>report</b>" {
		t.Fatalf("the link shows %+v", view)
	}
	var unlock struct{ Ticket string }
	call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/p/" + token + "/unlock", JSON: map[string]string{"passphrase": passphrase}}, http.StatusOK, &unlock)
	var full struct{ Files []struct{ ID string } }
	h := http.Header{"Coffer-Parcel-Ticket": {unlock.Ticket}}
	call(t, e, testenv.Request{Method: "GET", Path: "/api/v1/p/" + token, Header: h}, http.StatusOK, &full)
	for range 2 {
		res, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/p/" + token + "/files/" + full.Files[0].ID, Header: h})
		if res.StatusCode != http.StatusOK || !bytes.Equal(body, []byte("the numbers")) {
			t.Fatalf("download: %s %q", res.Status, body)
		}
	}
	deliver(t, e, 1) // the first download tells alice; the second does not
	d, _ := mailTo(t, mp, "alice@example.org")
	if d.Subject != "Your parcel was downloaded: Q3 <b>report</b>" || !strings.Contains(d.Text, "bob@example.org downloaded") {
		t.Errorf("the receipt: %q\n%s", d.Subject, d.Text)
	}
	if n, _ := e.Core.DB.Q().CountMail(context.Background()); n != 0 {
		t.Fatalf("%d mails left", n)
	}
}

// TestRevokedLinkMailWithdrawn: a link revoked before its mail went out is never mailed
// (a sender who notices a wrong address in time recalls the subject and message too);
// revoking a parcel withdraws the mails of all its links, and another parcel's mail stays.
func TestRevokedLinkMailWithdrawn(t *testing.T) {
	e, mp := mailEnv(t)
	alice := e.User(t, "alice", 0)
	type link struct {
		RecipientID string `json:"recipient_id"`
		Email       string
	}
	send := func(subject string, to ...string) (string, []link) {
		var p struct {
			ID    string
			Links []link
		}
		call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: alice, JSON: map[string]any{
			"kind": "request", "subject": subject, "recipients": to}}, http.StatusCreated, &p)
		if len(p.Links) != len(to) {
			t.Fatalf("%d links for %d recipients", len(p.Links), len(to))
		}
		return p.ID, p.Links
	}
	first, links := send("Lab results", "wrong@example.org", "right@example.org")
	second, _ := send("Invoices", "erin@example.org")
	third, _ := send("Contracts", "frank@example.org", "gina@example.org")
	var wrong string
	for _, l := range links {
		if l.Email == "wrong@example.org" {
			wrong = l.RecipientID
		}
	}
	call(t, e, testenv.Request{Method: "DELETE", Path: "/api/v1/parcels/" + first + "/recipients/" + wrong, Token: alice}, http.StatusNoContent, nil)
	call(t, e, testenv.Request{Method: "DELETE", Path: "/api/v1/parcels/" + third, Token: alice}, http.StatusNoContent, nil)
	// A recipient revoked while the parcel was a draft gets no link when it is sent.
	var draft struct {
		ID    string
		Links []link
	}
	call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: alice, JSON: map[string]any{
		"subject": "Draft", "recipients": []string{"typo@example.org", "hana@example.org"}}}, http.StatusCreated, &draft)
	var rcpts struct {
		Recipients []struct {
			ID    string
			Email string
		}
	}
	call(t, e, testenv.Request{Method: "GET", Path: "/api/v1/parcels/" + draft.ID, Token: alice}, http.StatusOK, &rcpts)
	for _, r := range rcpts.Recipients {
		if r.Email == "typo@example.org" {
			call(t, e, testenv.Request{Method: "DELETE", Path: "/api/v1/parcels/" + draft.ID + "/recipients/" + r.ID, Token: alice}, http.StatusNoContent, nil)
		}
	}
	call(t, e, testenv.Request{Method: "PUT", Path: "/api/v1/parcels/" + draft.ID + "/files/a.txt", Token: alice,
		Body: strings.NewReader("a")}, http.StatusCreated, nil)
	call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/parcels/" + draft.ID + "/send", Token: alice, JSON: map[string]any{}}, http.StatusOK, &draft)
	if len(draft.Links) != 1 || draft.Links[0].Email != "hana@example.org" {
		t.Fatalf("sending a draft with a revoked recipient made links %+v; want hana@ only", draft.Links)
	}
	// A draft whose every recipient was revoked is not sent: nobody could open it.
	var lone struct{ ID string }
	call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: alice, JSON: map[string]any{
		"subject": "Lone", "recipients": []string{"nobody@example.org"}}}, http.StatusCreated, &lone)
	call(t, e, testenv.Request{Method: "GET", Path: "/api/v1/parcels/" + lone.ID, Token: alice}, http.StatusOK, &rcpts)
	call(t, e, testenv.Request{Method: "DELETE", Path: "/api/v1/parcels/" + lone.ID + "/recipients/" + rcpts.Recipients[0].ID, Token: alice}, http.StatusNoContent, nil)
	call(t, e, testenv.Request{Method: "PUT", Path: "/api/v1/parcels/" + lone.ID + "/files/a.txt", Token: alice,
		Body: strings.NewReader("a")}, http.StatusCreated, nil)
	call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/parcels/" + lone.ID + "/send", Token: alice, JSON: map[string]any{}}, http.StatusBadRequest, nil)

	deliver(t, e, 3)
	got := map[string]bool{}
	for _, m := range mp.Messages(t) {
		for _, to := range m.To {
			got[to.Address] = true
		}
	}
	if len(got) != 3 || !got["right@example.org"] || !got["erin@example.org"] || !got["hana@example.org"] {
		t.Fatalf("mails went to %v; want right@ (first parcel), erin@ (%s) and hana@ (the draft) only", got, second)
	}
	if n, _ := e.Core.DB.Q().CountMail(context.Background()); n != 0 {
		t.Fatalf("%d mails left", n)
	}
}

// TestMailWaitsForDisabledOwner: a disabled account's links stop working, and so do a
// suspended one's (a tripwire's suspicion of an intruder, who may have sent files out
// through a parcel); their invitations wait in the outbox, with no attempt counted, and
// both come back when the account is enabled or the suspension lifted. The check is made
// when the mail's turn comes, whatever stopped the account.
func TestMailWaitsForDisabledOwner(t *testing.T) {
	e, mp := mailEnv(t)
	bob := e.User(t, "bob", 0)
	var p struct{ Links []struct{ Token string } }
	call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: bob, JSON: map[string]any{
		"kind": "request", "subject": "Scans", "recipients": []string{"ivan@example.org"}}}, http.StatusCreated, &p)
	ctx := context.Background()
	q := e.Core.DB.Q()
	u, err := q.UserByName(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	link := "/api/v1/p/" + p.Links[0].Token
	for _, c := range []struct {
		name    string
		on, off func() error
	}{
		{"disabled", func() error { return q.SetDisabled(ctx, u.ID, true) }, func() error { return q.SetDisabled(ctx, u.ID, false) }},
		{"suspended", func() error { return q.SetSuspended(ctx, u.ID, time.Now()) }, func() error { return q.SetSuspended(ctx, u.ID, time.Time{}) }},
	} {
		if err := c.on(); err != nil {
			t.Fatal(err)
		}
		deliver(t, e, 0)
		if n, _ := q.CountMail(ctx); n != 1 || len(mp.Messages(t)) != 0 {
			t.Fatalf("owner %s: the invitation was sent or dropped (%d queued)", c.name, n)
		}
		if due, err := q.DueMail(ctx, time.Now().Add(time.Hour), 10); err != nil || len(due) != 1 || due[0].Attempts != 0 {
			t.Fatalf("owner %s: the held mail: %+v, %v; want one, with no attempt counted", c.name, due, err)
		}
		res, body := e.Do(t, testenv.Request{Method: "GET", Path: link})
		if res.StatusCode != http.StatusGone || !strings.Contains(string(body), "disabled or suspended") {
			t.Fatalf("owner %s: the link answers %s %s; want 410, the sender's account is disabled or suspended", c.name, res.Status, body)
		}
		if err := c.off(); err != nil {
			t.Fatal(err)
		}
	}
	call(t, e, testenv.Request{Method: "GET", Path: link}, http.StatusOK, nil)
	// The mail goes at its next look, a minute on.
	e.Core.Mail.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	deliver(t, e, 1)
	mailTo(t, mp, "ivan@example.org")
}

// TestExpiredLinkMailWithdrawn: an invitation still queued when its parcel expires (the
// mail server was down all along) is dropped, not sent with a dead link.
func TestExpiredLinkMailWithdrawn(t *testing.T) {
	e, mp := mailEnv(t)
	carl := e.User(t, "carl", 0)
	call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: carl, JSON: map[string]any{
		"kind": "request", "subject": "Old", "recipients": []string{"judy@example.org"}}}, http.StatusCreated, nil)
	e.Core.Mail.SetClock(func() time.Time { return time.Now().Add(400 * 24 * time.Hour) })
	deliver(t, e, 0)
	if n, _ := e.Core.DB.Q().CountMail(context.Background()); n != 0 || len(mp.Messages(t)) != 0 {
		t.Fatalf("a mail for an expired parcel was sent or kept (%d queued)", n)
	}
}

// TestRequestMails: a request e-mails its upload links; uploads tell the requester, one
// mail for the uploads made while it waits.
func TestRequestMails(t *testing.T) {
	e, mp := mailEnv(t)
	alice := e.User(t, "alice", 0)
	setEmail(t, e, "alice", "alice@example.org")
	var p struct{ ID string }
	call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: alice, JSON: map[string]any{
		"kind": "request", "subject": "Your tax papers", "recipients": []string{"dan@example.org"}}}, http.StatusCreated, &p)
	deliver(t, e, 1)
	m, token := mailTo(t, mp, "dan@example.org")
	if m.Subject != "alice asks you for files: Your tax papers" || token == "" || strings.Contains(m.Text, "passphrase") {
		t.Fatalf("%q\n%s", m.Subject, m.Text)
	}
	for _, name := range []string{"a.pdf", "b.pdf"} {
		call(t, e, testenv.Request{Method: "PUT", Path: "/api/v1/p/" + token + "/files/" + name, Body: strings.NewReader(name)}, http.StatusCreated, nil)
	}
	deliver(t, e, 1)
	a, _ := mailTo(t, mp, "alice@example.org")
	if a.Subject != "Files arrived for your request: Your tax papers" || !strings.Contains(a.Text, "dan@example.org uploaded") {
		t.Errorf("%q\n%s", a.Subject, a.Text)
	}
	// Once that mail is sent, a later upload is told again.
	call(t, e, testenv.Request{Method: "PUT", Path: "/api/v1/p/" + token + "/files/c.pdf", Body: strings.NewReader("c")}, http.StatusCreated, nil)
	deliver(t, e, 1)
}

// TestNoMailConfigured: without --smtp-url parcels work and nothing is queued.
func TestNoMailConfigured(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	if e.Core.Mail != nil {
		t.Fatal("an outbox without a mail server")
	}
	alice := e.User(t, "alice", 0)
	var p struct {
		ID    string
		Links []struct{ URL string }
	}
	call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: alice, JSON: map[string]any{
		"kind": "request", "subject": "s", "recipients": []string{"dan@example.org"}}}, http.StatusCreated, &p)
	if len(p.Links) != 1 || p.Links[0].URL == "" {
		t.Fatalf("the sender gets no link: %+v", p)
	}
	if n, err := e.Core.DB.Q().CountMail(context.Background()); n != 0 || err != nil {
		t.Fatalf("%d mails queued, %v", n, err)
	}
}

// TestEndToEndNoRecipientMail: an end-to-end parcel's links need the key only the
// sender's client has, so the server e-mails no half link.
func TestEndToEndNoRecipientMail(t *testing.T) {
	e, mp := mailEnv(t)
	alice := e.User(t, "alice", 0)
	call(t, e, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: alice, JSON: map[string]any{
		"kind": "request", "e2e": true, "subject": "sealed", "recipients": []string{"dan@example.org"}}}, http.StatusCreated, nil)
	deliver(t, e, 0)
	if n := len(mp.Messages(t)); n != 0 {
		t.Fatalf("%d mails", n)
	}
}
