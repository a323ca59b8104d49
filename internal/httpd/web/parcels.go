package web

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/httpd/api"
	"github.com/coffer-mft/coffer/internal/parcel"
)

// Parcels (docs/parcels.md, "Web pages"): the recipient's page /p/{token}, which needs no
// account, and the sender's pages under /parcels. Downloads, the zip and uploads go to
// the REST API (/api/v1/p/...), which takes the passphrase's ticket from the cookie
// TicketCookie that the unlock form sets.

// e2eScript is the optional library that decrypts and encrypts end-to-end parcels in the
// browser (window.CofferParcelE2E); the recipient page loads it when it is present.
const e2eScript = "parcel-e2e.js"

// EnableParcels serves the parcel pages with ps; refused counts a refused link toward a
// ban of its address (api.Server.RecipientRefused, so that pages and API share one
// score per address; banned addresses never reach the pages). Call it before serving.
func (s *Server) EnableParcels(ps *parcel.Service, refused func(*http.Request, error)) {
	s.parcels, s.recipientRefused = ps, refused
	m := s.mux
	m.HandleFunc("GET /p/{token}", s.recipientPage)
	m.HandleFunc("POST /p/{token}/unlock", s.unlockPage)
	m.HandleFunc("GET /parcels/{$}", s.signedIn(s.parcelsPage))
	m.HandleFunc("GET /parcels/new", s.signedIn(s.newParcelPage))
	m.HandleFunc("POST /parcels/new", s.signedIn(s.createParcel))
	m.HandleFunc("GET /parcels/{id}", s.signedIn(s.parcelPage))
	m.HandleFunc("POST /parcels/{id}/send", s.signedIn(s.sendParcel))
	m.HandleFunc("POST /parcels/{id}/revoke", s.signedIn(s.parcelAction))
	m.HandleFunc("POST /parcels/{id}/close", s.signedIn(s.parcelAction))
	m.HandleFunc("POST /parcels/{id}/recipients/revoke", s.signedIn(s.parcelAction))
	m.HandleFunc("GET /admin/parcels", s.adminOnly(s.adminParcelsPage))
	m.HandleFunc("POST /admin/parcels/revoke", s.adminOnly(s.adminRevokeParcel))
}

// recipientData is what the recipient page shows.
type recipientData struct {
	Token, API string // the link's token, and its REST API base
	State      string // "ok", "locked", "invalid", "gone", "done"
	Error      string
	View       parcel.View
	Files      []recipientFile
	ZipURL     string
	E2ELib     bool // the e2e library is installed
}

type recipientFile struct {
	ID, Name, SizeText, SHA256, URL string
	Left                            string // downloads left, "" when unlimited
}

// recipientPage shows a link: /p/{token}.
func (s *Server) recipientPage(w http.ResponseWriter, r *http.Request) {
	d := s.recipientBase(r)
	v, err := s.parcels.View(r.Context(), s.parcelAccess(r))
	if err != nil {
		s.recipientError(w, r, d, err)
		return
	}
	d.View, d.State = v, "ok"
	if v.Locked {
		d.State = "locked"
	} else if r.URL.Query().Get("done") != "" && v.Kind == parcel.KindRequest {
		d.State = "done"
	}
	s.renderRecipient(w, http.StatusOK, d)
}

// unlockPage takes the passphrase form of a link, and keeps the ticket in a cookie.
func (s *Server) unlockPage(w http.ResponseWriter, r *http.Request) {
	d := s.recipientBase(r)
	ticket, expires, err := s.parcels.Unlock(r.Context(), s.parcelAccess(r), r.PostFormValue("passphrase"))
	if err != nil {
		if k := errs.KindOf(err); k == errs.Unauthenticated || k == errs.Invalid {
			// The form again (a view, audited as one), with what the layer says: tries
			// left, or that the link is now locked.
			code := http.StatusUnauthorized
			if k == errs.Invalid {
				code = http.StatusBadRequest
			}
			if s.recipientRefused != nil {
				s.recipientRefused(r, err)
			}
			v, verr := s.parcels.View(r.Context(), s.parcelAccess(r))
			d.View, d.State, d.Error = v, "locked", sentence(errs.Detail(err))
			if verr != nil {
				d.State = "gone"
			} else if !v.Locked {
				d.State = "ok"
			}
			s.renderRecipient(w, code, d)
			return
		}
		s.recipientError(w, r, d, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: api.TicketCookie, Value: ticket, Path: "/", Expires: expires,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/p/"+url.PathEscape(d.Token), http.StatusSeeOther)
}

// recipientBase starts the page's data.
func (s *Server) recipientBase(r *http.Request) recipientData {
	token := r.PathValue("token")
	return recipientData{Token: token, API: api.Prefix + "/p/" + url.PathEscape(token), E2ELib: s.hasE2E}
}

func (s *Server) parcelAccess(r *http.Request) parcel.Access {
	acc := parcel.Access{Token: r.PathValue("token"), Client: client(r)}
	if c, err := r.Cookie(api.TicketCookie); err == nil {
		acc.Ticket = c.Value
	}
	return acc
}

// recipientError shows why a link cannot be used. An unknown token gets one sentence
// whatever the reason; a known one says whether it expired, was revoked or is used up.
func (s *Server) recipientError(w http.ResponseWriter, r *http.Request, d recipientData, err error) {
	if s.recipientRefused != nil {
		s.recipientRefused(r, err)
	}
	code := http.StatusInternalServerError
	d.State, d.Error = "gone", "This page cannot be shown right now. Try again later."
	switch errs.KindOf(err) {
	case errs.NotFound:
		code, d.State, d.Error = http.StatusNotFound, "invalid", "This link is not valid. Check that you copied all of it, or ask the sender for a new one."
	case errs.Gone:
		code, d.Error = http.StatusGone, sentence(errs.Detail(err))
	default:
		s.log.Error("parcel page failed", "err", err)
	}
	s.renderRecipient(w, code, d)
}

// sentence starts a message of the use-case layer with a capital and ends it with a stop.
func sentence(v string) string {
	if v == "" {
		return v
	}
	v = strings.ToUpper(v[:1]) + v[1:]
	if !strings.HasSuffix(v, ".") {
		v += "."
	}
	return v
}

func (s *Server) renderRecipient(w http.ResponseWriter, code int, d recipientData) {
	for _, f := range d.View.Files {
		rf := recipientFile{ID: f.ID, Name: f.Name, SizeText: formatBytes(f.Size), SHA256: hex.EncodeToString(f.SHA256),
			URL: d.API + "/files/" + url.PathEscape(f.ID)}
		if f.DownloadsLeft >= 0 {
			rf.Left = strconv.FormatInt(f.DownloadsLeft, 10)
		}
		if f.Sealed {
			rf.Name = "encrypted file " + f.ID[:8]
		}
		d.Files = append(d.Files, rf)
	}
	if d.View.Kind == parcel.KindSend && !d.View.E2E && len(d.Files) > 1 {
		d.ZipURL = d.API + "/zip"
	}
	title := "Parcel"
	if d.View.Subject != "" {
		title = d.View.Subject
	}
	pg := page{Title: title, Scripts: []string{"parcel.js"}}
	if d.View.Kind == parcel.KindRequest && d.View.CanUpload && !d.View.E2E && d.State == "ok" {
		pg.Scripts = append(pg.Scripts, "upload.js")
	}
	if d.View.E2E && d.E2ELib {
		pg.Scripts = append([]string{e2eScript}, pg.Scripts...)
	}
	s.render(w, "recipient", code, pg, d)
}

// The sender's pages.

type parcelsData struct {
	View       string // "list", "new", "one", "links"
	Kind       string // of a new parcel
	Error      string
	Parcels    []parcelRow
	Parcel     parcelDetail
	Links      []linkRow
	Form       url.Values
	MaxDays    int
	DefaultDl  int64
	DefaultDay int
	RequireE2E bool // the policy requires end-to-end encryption
	E2ELib     bool // the e2e library is installed: the send form can encrypt
}

type parcelRow struct {
	ID, Kind, Status, Subject, Created, Expires string
}

type parcelDetail struct {
	parcelRow
	Message                  string
	Passphrase, Notify, E2E  bool
	MaxDownloads             int64
	Draft, Open, Live        bool
	Recipients               []recipientRow
	Files                    []ownerFile
	UploadURL                string // drafts: where the page's uploader PUTs files
	HasRequestFiles, Revoked bool
}

type recipientRow struct {
	ID, Email, Status, Views, FirstView, LastView string
	Downloads                                     []string // "name: n (last ...)"
	Revocable                                     bool
}

type ownerFile struct {
	ID, Name, SizeText, SHA256, URL, From string
}

type linkRow struct {
	Email, URL string
}

func (s *Server) parcelsData(view string) parcelsData {
	pol := s.parcels.Policy()
	return parcelsData{View: view, MaxDays: int(pol.MaxLifetime / (24 * time.Hour)), DefaultDay: int(pol.DefaultLifetime / (24 * time.Hour)),
		DefaultDl: pol.DefaultMaxDownloads, Form: url.Values{}, RequireE2E: pol.RequireE2E, E2ELib: s.hasE2E}
}

// newFormScripts are the scripts of the form of a new parcel: a send parcel's form
// encrypts end to end in the page (parcel.js with the e2e library).
func (d parcelsData) newFormScripts() []string {
	if d.Kind != parcel.KindSend || !d.E2ELib {
		return nil
	}
	return []string{e2eScript, "parcel.js"}
}

// errE2ENeedsScript answers a send form posted with "End-to-end encrypted" checked: the
// page's script encrypts and sends through the REST API itself, so a post of the form
// means that the script did not run, and the files must not go out in plain text.
var errE2ENeedsScript = errs.E(errs.Invalid, "end-to-end encryption happens in your browser, which needs JavaScript: "+
	"it is off or did not load on this page, so nothing was created or sent. Turn JavaScript on and try again, or send with the command line (coffer send --e2e)")

func (s *Server) renderParcels(w http.ResponseWriter, code int, p auth.Principal, title string, d parcelsData, scripts ...string) {
	s.render(w, "parcels", code, page{Title: title, Section: "parcels", User: &p, Scripts: scripts}, d)
}

// parcelError maps a use case's error to a status and a message for the page.
func (s *Server) parcelError(err error) (int, string) {
	switch errs.KindOf(err) {
	case errs.NotFound:
		return http.StatusNotFound, "There is no such parcel (or it is not yours)."
	case errs.Invalid, errs.TooLarge:
		return http.StatusBadRequest, sentence(errs.Detail(err))
	case errs.Conflict, errs.Exist:
		return http.StatusConflict, sentence(errs.Detail(err))
	case errs.Gone:
		return http.StatusGone, sentence(errs.Detail(err))
	case errs.Permission:
		return http.StatusForbidden, sentence(errs.Detail(err))
	}
	s.log.Error("parcel page failed", "err", err)
	return http.StatusInternalServerError, "This cannot be done right now; try again later or tell your administrator."
}

func rowOf(p parcel.Parcel) parcelRow {
	return parcelRow{ID: p.ID, Kind: p.Kind, Status: p.Status, Subject: p.Subject, Created: formatTime(p.Created), Expires: formatTime(p.Expires)}
}

// parcelsPage lists the caller's parcels: /parcels/.
func (s *Server) parcelsPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	d := s.parcelsData("list")
	ps, _, err := s.parcels.List(r.Context(), p, "", 200)
	code := http.StatusOK
	if err != nil {
		code, d.Error = s.parcelError(err)
	}
	for _, pp := range ps {
		d.Parcels = append(d.Parcels, rowOf(pp))
	}
	s.renderParcels(w, code, p, "My parcels", d)
}

// newParcelPage is the form of a new parcel (?kind=request for a request).
func (s *Server) newParcelPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	d := s.parcelsData("new")
	d.Kind = parcel.KindSend
	if r.URL.Query().Get("kind") == parcel.KindRequest {
		d.Kind = parcel.KindRequest
	}
	d.Form.Set("days", strconv.Itoa(d.DefaultDay))
	d.Form.Set("downloads", strconv.FormatInt(d.DefaultDl, 10))
	if d.RequireE2E && d.Kind == parcel.KindSend {
		d.Form.Set("e2e", "on")
	}
	title := "Send files"
	if d.Kind == parcel.KindRequest {
		title = "Request files"
	}
	s.renderParcels(w, http.StatusOK, p, title, d, d.newFormScripts()...)
}

// createParcel creates a parcel from the form: a send parcel's draft (then its page,
// where files are added), or a request (then its links, shown once).
func (s *Server) createParcel(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	d := s.parcelsData("new")
	r.ParseForm()
	d.Form, d.Kind = r.PostForm, parcel.KindSend
	if r.PostFormValue("kind") == parcel.KindRequest {
		d.Kind = parcel.KindRequest
	}
	np, err := newParcelFromForm(r, d.Kind, d.MaxDays)
	if err == nil && d.Kind == parcel.KindSend && r.PostFormValue("e2e") != "" {
		err = errE2ENeedsScript
	}
	var out parcel.Parcel
	var links []parcel.Link
	if err == nil {
		out, links, err = s.parcels.Create(r.Context(), p, np)
	}
	if err != nil {
		title := "Send files"
		if d.Kind == parcel.KindRequest {
			title = "Request files"
		}
		var code int
		code, d.Error = s.parcelError(err)
		s.renderParcels(w, code, p, title, d, d.newFormScripts()...)
		return
	}
	if d.Kind == parcel.KindSend {
		http.Redirect(w, r, "/parcels/"+out.ID, http.StatusSeeOther)
		return
	}
	s.showLinks(w, r, p, out, links, http.StatusCreated)
}

// newParcelFromForm reads the form of a new parcel.
func newParcelFromForm(r *http.Request, kind string, maxDays int) (parcel.NewParcel, error) {
	np := parcel.NewParcel{Kind: kind, Subject: strings.TrimSpace(r.PostFormValue("subject")),
		Message: strings.ReplaceAll(r.PostFormValue("message"), "\r\n", "\n"), Passphrase: r.PostFormValue("passphrase"),
		Notify: r.PostFormValue("notify") != ""}
	np.Recipients = strings.FieldsFunc(r.PostFormValue("recipients"), func(c rune) bool {
		return c == ',' || c == ';' || c == ' ' || c == '\n' || c == '\r' || c == '\t'
	})
	days, err := strconv.Atoi(r.PostFormValue("days"))
	if err != nil || days < 1 || days > maxDays {
		return np, errs.E(errs.Invalid, "the link must expire after 1 to "+strconv.Itoa(maxDays)+" days")
	}
	np.Lifetime = time.Duration(days) * 24 * time.Hour
	if kind == parcel.KindSend {
		n, err := strconv.ParseInt(r.PostFormValue("downloads"), 10, 64)
		if err != nil {
			return np, errs.E(errs.Invalid, "downloads per recipient must be a number (0 for unlimited)")
		}
		np.MaxDownloads = &n
	}
	return np, nil
}

// showLinks shows the links just made, the only time they can be shown.
func (s *Server) showLinks(w http.ResponseWriter, r *http.Request, p auth.Principal, out parcel.Parcel, links []parcel.Link, code int) {
	d := s.parcelsData("links")
	d.Parcel.parcelRow = rowOf(out)
	for _, l := range links {
		d.Links = append(d.Links, linkRow{Email: l.Email, URL: "https://" + r.Host + "/p/" + l.Token})
	}
	s.renderParcels(w, code, p, "Links of "+out.Subject, d)
}

// parcelPage shows one of the caller's parcels: /parcels/{id}.
func (s *Server) parcelPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	s.showParcel(w, r, p, http.StatusOK, "", "")
}

func (s *Server) showParcel(w http.ResponseWriter, r *http.Request, p auth.Principal, code int, flash, kind string) {
	d := s.parcelsData("one")
	pp, err := s.parcels.Get(r.Context(), p, r.PathValue("id"))
	if err != nil {
		code, d.Error = s.parcelError(err)
		d.View = "list"
		s.renderParcels(w, code, p, "Parcel", d)
		return
	}
	d.Parcel = detailOf(pp)
	pg := page{Title: pp.Subject, Section: "parcels", User: &p, Flash: flash, FlashKind: kind}
	if d.Parcel.Draft {
		pg.Scripts = []string{"upload.js", "parcel.js"}
	}
	s.render(w, "parcels", code, pg, d)
}

func detailOf(pp parcel.Parcel) parcelDetail {
	base := api.Prefix + "/parcels/" + url.PathEscape(pp.ID)
	d := parcelDetail{parcelRow: rowOf(pp), Message: pp.Message, Passphrase: pp.HasPassphrase, Notify: pp.Notify, E2E: pp.E2E,
		MaxDownloads: pp.MaxDownloads, Draft: pp.Status == parcel.StateDraft, Open: pp.Status == parcel.StateOpen,
		Live: pp.Status != "revoked" && pp.Status != "expired", Revoked: pp.Status == "revoked"}
	if d.Draft {
		d.UploadURL = base + "/files/"
	}
	names := map[string]string{}
	for _, f := range pp.Files {
		of := ownerFile{ID: f.ID, Name: f.Name, SizeText: formatBytes(f.Size), SHA256: hex.EncodeToString(f.SHA256)}
		if f.Sealed {
			of.Name = "encrypted file " + f.ID[:8]
		}
		if pp.Purged.IsZero() {
			of.URL = base + "/files/" + url.PathEscape(f.ID)
		}
		names[f.ID] = of.Name
		d.Files = append(d.Files, of)
	}
	for _, rc := range pp.Recipients {
		row := recipientRow{ID: rc.ID, Email: rc.Email, Status: "active", Views: strconv.FormatInt(rc.Views, 10),
			FirstView: formatTime(rc.FirstView), LastView: formatTime(rc.LastView), Revocable: d.Live && rc.Revoked.IsZero()}
		if row.Email == "" {
			row.Email = "(one link, no address)"
		}
		switch {
		case !rc.Revoked.IsZero():
			row.Status = "revoked " + formatTime(rc.Revoked)
		case rc.Locked:
			row.Status = "locked (wrong passphrases)"
		}
		for _, dl := range rc.Downloads {
			row.Downloads = append(row.Downloads, names[dl.FileID]+": "+strconv.FormatInt(dl.Count, 10)+"× (last "+formatTime(dl.Last)+")")
		}
		d.Recipients = append(d.Recipients, row)
	}
	for i, f := range pp.Files {
		for _, rc := range d.Recipients {
			if f.Uploader == rc.ID {
				d.Files[i].From = rc.Email
			}
		}
	}
	d.HasRequestFiles = pp.Kind == parcel.KindRequest && len(d.Files) > 0
	return d
}

// sendParcel sends a draft and shows its links.
func (s *Server) sendParcel(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	out, links, err := s.parcels.Send(r.Context(), p, r.PathValue("id"), "")
	if err != nil {
		code, msg := s.parcelError(err)
		s.showParcel(w, r, p, code, msg, "error")
		return
	}
	s.showLinks(w, r, p, out, links, http.StatusOK)
}

// parcelAction revokes a parcel or one recipient, or closes a request.
func (s *Server) parcelAction(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id := r.PathValue("id")
	var err error
	var done string
	switch {
	case strings.HasSuffix(r.URL.Path, "/recipients/revoke"):
		err, done = s.parcels.RevokeRecipient(r.Context(), p, id, r.PostFormValue("recipient")), "The recipient's link was revoked."
	case strings.HasSuffix(r.URL.Path, "/close"):
		err, done = s.parcels.Close(r.Context(), p, id), "The request no longer accepts files."
	default:
		err, done = s.parcels.Revoke(r.Context(), p, id), "The parcel was revoked: its links no longer work."
	}
	if err != nil {
		code, msg := s.parcelError(err)
		s.showParcel(w, r, p, code, msg, "error")
		return
	}
	s.showParcel(w, r, p, http.StatusOK, done, "ok")
}
