package notify

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/parcel"
)

//go:embed templates
var templateFS embed.FS

// Templates are the mails' bodies: NAME.txt (text/template) and NAME.html
// (html/template, which escapes every field, so a subject or message cannot add markup).
type templates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

func parseTemplates() (templates, error) {
	t, err := texttemplate.ParseFS(templateFS, "templates/*.txt")
	if err != nil {
		return templates{}, err
	}
	h, err := htmltemplate.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return templates{}, err
	}
	return templates{text: t, html: h}, nil
}

// mailData is what the templates see. Every field may come from a user.
type mailData struct {
	Title      string
	Site       string // the public URL's host
	Sender     string
	Subject    string
	Message    string
	Link       string
	Expires    string
	Passphrase bool
	Recipient  string
	When       string
}

// render makes message name for to with subject and d.
func (t templates) render(name, to, subject string, d mailData) (Message, error) {
	d.Title = subject
	var text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&text, name+".txt", d); err != nil {
		return Message{}, err
	}
	if err := t.html.ExecuteTemplate(&html, name+".html", d); err != nil {
		return Message{}, err
	}
	return Message{To: to, Subject: subject, Text: text.String(), HTML: html.String()}, nil
}

// Parcels e-mails the people concerned by parcel events (docs/notify.md); it is the
// parcel.Notifier of the server.
type Parcels struct {
	outbox *Outbox
	base   string // the public URL, without a trailing slash
	site   string
	tmpl   templates
	now    func() time.Time
}

var _ parcel.Notifier = (*Parcels)(nil)

// NewParcels returns the notifier of parcel events; links start with publicURL
// (--public-url, e.g. https://files.example.org).
func NewParcels(o *Outbox, publicURL string) (*Parcels, error) {
	base, err := ParsePublicURL(publicURL)
	if err != nil {
		return nil, err
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(base)
	return &Parcels{outbox: o, base: base, site: u.Host, tmpl: t, now: o.now}, nil
}

// ParsePublicURL checks --public-url: an absolute http(s) URL without query or fragment.
// It returns it without a trailing slash.
func ParsePublicURL(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", errs.E(errs.Invalid, fmt.Sprintf("--public-url %q: give the address people reach this server at, such as https://files.example.org", v))
	}
	return strings.TrimRight(u.String(), "/"), nil
}

const timeFormat = "2006-01-02 15:04 MST"

// ParcelEvent queues the mails of e in q's transaction.
func (p *Parcels) ParcelEvent(ctx context.Context, q db.Q, e parcel.Event) error {
	d := mailData{Site: p.site, Sender: e.Sender, Subject: e.Subject, Message: e.Message, Passphrase: e.Passphrase,
		Expires: e.Expires.UTC().Format(timeFormat), When: p.now().UTC().Format(timeFormat), Recipient: e.Recipient}
	if d.Recipient == "" {
		d.Recipient = "Someone with the parcel's link"
	}
	switch e.Kind {
	case parcel.EventLinks:
		if e.E2E {
			// The link needs its #e1.KEY fragment, which only the sender's client has:
			// the sender passes the links on.
			return nil
		}
		name, subject := "sent", fmt.Sprintf("%s sent you files: %s", e.Sender, e.Subject)
		if e.ParcelKind == parcel.KindRequest {
			name, subject = "request", fmt.Sprintf("%s asks you for files: %s", e.Sender, e.Subject)
		}
		for _, l := range e.Links {
			if l.Email == "" || l.Token == "" {
				continue // a link to pass on, or one made later
			}
			d.Link = p.base + "/p/" + l.Token
			m, err := p.tmpl.render(name, l.Email, subject, d)
			if err != nil {
				return err
			}
			if err := p.outbox.EnqueueLink(ctx, q, "parcel."+name, l.RecipientID, m); err != nil {
				return err
			}
		}
		return nil
	case parcel.EventRevoked:
		// A mail that carries a link now dead is not sent, if it has not been yet.
		var err error
		if e.RecipientID != "" {
			_, err = q.WithdrawLinkMail(ctx, e.RecipientID)
		} else {
			_, err = q.WithdrawParcelMail(ctx, e.ParcelID)
		}
		return err
	case parcel.EventDownloaded:
		return p.toOwner(ctx, q, e, "downloaded", "Your parcel was downloaded: "+e.Subject, "downloaded:"+e.ParcelID+":"+e.Recipient, d)
	case parcel.EventUploaded:
		// While one such mail waits, later uploads by the same recipient do not queue another.
		return p.toOwner(ctx, q, e, "uploaded", "Files arrived for your request: "+e.Subject, "uploaded:"+e.ParcelID+":"+e.Recipient, d)
	}
	return nil
}

// toOwner queues message name to the parcel's owner, if they have an address.
func (p *Parcels) toOwner(ctx context.Context, q db.Q, e parcel.Event, name, subject, topic string, d mailData) error {
	to, err := q.UserEmail(ctx, e.OwnerID)
	if err != nil || to == "" {
		return err
	}
	m, err := p.tmpl.render(name, to, subject, d)
	if err != nil {
		return err
	}
	_, err = p.outbox.Enqueue(ctx, q, "parcel."+name, topic, m)
	return err
}
