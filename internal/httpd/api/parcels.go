package api

import (
	"archive/zip"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/parcel"
)

// Parcels (docs/parcels.md): endpoints for their owners under /parcels, and for
// recipients, whose link token is their only credential, under /p/{token}.

// TicketHeader carries a recipient's passphrase ticket.
const TicketHeader = "Coffer-Parcel-Ticket"

// TicketCookie carries the ticket instead when the recipient uses the web page: its
// download links and uploads cannot set a header. HttpOnly, SameSite=Strict.
const TicketCookie = "__Host-coffer-parcel"

// parcelAPI serves the parcel endpoints.
type parcelAPI struct {
	s  *Server
	ps *parcel.Service
	d  *defender.Service
}

// EnableParcels serves the parcel endpoints with ps; d scores the links' misuse. Call it
// before serving.
func (s *Server) EnableParcels(ps *parcel.Service, d *defender.Service) {
	a := &parcelAPI{s: s, ps: ps, d: d}
	s.defender = d
	m := s.mux
	m.Handle("POST "+Prefix+"/parcels", s.authed(a.create))
	m.Handle("GET "+Prefix+"/parcels", s.authed(a.list))
	m.Handle("GET "+Prefix+"/parcels/{id}", s.authed(a.get))
	m.Handle("DELETE "+Prefix+"/parcels/{id}", s.authed(a.revoke))
	m.Handle("PUT "+Prefix+"/parcels/{id}/files/{f}", s.authed(a.addFile))
	m.Handle("GET "+Prefix+"/parcels/{id}/files/{f}", s.authed(a.ownerDownload))
	m.Handle("POST "+Prefix+"/parcels/{id}/send", s.authed(a.send))
	m.Handle("POST "+Prefix+"/parcels/{id}/close", s.authed(a.close))
	m.Handle("POST "+Prefix+"/parcels/{id}/recipients", s.authed(a.addRecipient))
	m.Handle("DELETE "+Prefix+"/parcels/{id}/recipients/{rid}", s.authed(a.revokeRecipient))
	m.Handle("GET "+Prefix+"/p/{token}", a.recipient(a.view))
	m.Handle("POST "+Prefix+"/p/{token}/unlock", a.recipient(a.unlock))
	m.Handle("GET "+Prefix+"/p/{token}/files/{f}", a.recipient(a.download))
	m.Handle("GET "+Prefix+"/p/{token}/zip", a.recipient(a.zip))
	m.Handle("PUT "+Prefix+"/p/{token}/files/{f}", a.recipient(a.upload))
	a.tusRoutes()
}

type parcelRequest struct {
	Kind         string   `json:"kind"`
	Subject      string   `json:"subject"`
	Message      string   `json:"message"`
	Recipients   []string `json:"recipients"`
	ExpiresIn    string   `json:"expires_in"` // a Go duration such as "72h"
	MaxDownloads *int64   `json:"max_downloads"`
	Passphrase   string   `json:"passphrase"`
	Notify       bool     `json:"notify"`
	E2E          bool     `json:"e2e"`
	KDFSalt      string   `json:"kdf_salt"` // base64url
}

type parcelFile struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	Uploader string    `json:"uploader,omitempty"`
	Created  time.Time `json:"created"`
	Left     *int64    `json:"downloads_left,omitempty"` // recipients only; -1 = unlimited
}

type parcelDownload struct {
	File  string    `json:"file"`
	Count int64     `json:"count"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

type parcelRecipient struct {
	ID        string           `json:"id"`
	Email     string           `json:"email"`
	Revoked   time.Time        `json:"revoked,omitzero"`
	Locked    bool             `json:"locked"`
	Views     int64            `json:"views"`
	FirstView time.Time        `json:"first_view,omitzero"`
	LastView  time.Time        `json:"last_view,omitzero"`
	Downloads []parcelDownload `json:"downloads"`
}

type parcelLink struct {
	RecipientID string `json:"recipient_id"`
	Email       string `json:"email"`
	Token       string `json:"token,omitempty"`
	URL         string `json:"url,omitempty"`
}

type parcelOut struct {
	ID           string            `json:"id"`
	Kind         string            `json:"kind"`
	Status       string            `json:"status"`
	Subject      string            `json:"subject"`
	Message      string            `json:"message"`
	E2E          bool              `json:"e2e"`
	KDFSalt      string            `json:"kdf_salt,omitempty"`
	Manifest     string            `json:"manifest,omitempty"`
	Passphrase   bool              `json:"passphrase"`
	MaxDownloads int64             `json:"max_downloads"`
	Notify       bool              `json:"notify"`
	Created      time.Time         `json:"created"`
	Sent         time.Time         `json:"sent,omitzero"`
	Expires      time.Time         `json:"expires"`
	Revoked      time.Time         `json:"revoked,omitzero"`
	Purged       time.Time         `json:"purged,omitzero"`
	Recipients   []parcelRecipient `json:"recipients,omitempty"`
	Files        []parcelFile      `json:"files,omitempty"`
	Links        []parcelLink      `json:"links,omitempty"` // only in the answer that made them
}

func fileJSON(f parcel.File) parcelFile {
	return parcelFile{ID: f.ID, Name: f.Name, Size: f.Size, SHA256: hex.EncodeToString(f.SHA256), Uploader: f.Uploader, Created: f.Created}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func parcelJSON(p parcel.Parcel) parcelOut {
	out := parcelOut{ID: p.ID, Kind: p.Kind, Status: p.Status, Subject: p.Subject, Message: p.Message, E2E: p.E2E,
		KDFSalt: b64(p.KDFSalt), Manifest: p.Manifest, Passphrase: p.HasPassphrase, MaxDownloads: p.MaxDownloads,
		Notify: p.Notify, Created: p.Created, Sent: p.Sent, Expires: p.Expires, Revoked: p.Revoked, Purged: p.Purged}
	for _, r := range p.Recipients {
		rr := parcelRecipient{ID: r.ID, Email: r.Email, Revoked: r.Revoked, Locked: r.Locked, Views: r.Views,
			FirstView: r.FirstView, LastView: r.LastView, Downloads: []parcelDownload{}}
		for _, d := range r.Downloads {
			rr.Downloads = append(rr.Downloads, parcelDownload{File: d.FileID, Count: d.Count, First: d.First, Last: d.Last})
		}
		out.Recipients = append(out.Recipients, rr)
	}
	for _, f := range p.Files {
		out.Files = append(out.Files, fileJSON(f))
	}
	return out
}

// linkURL is the page of a link token on this server. In end-to-end mode the client
// appends the key fragment itself: the server never has it.
func linkURL(r *http.Request, token string) string {
	if token == "" {
		return ""
	}
	return "https://" + r.Host + "/p/" + token
}

func linksJSON(r *http.Request, links []parcel.Link) []parcelLink {
	out := []parcelLink{}
	for _, l := range links {
		out = append(out, parcelLink{RecipientID: l.RecipientID, Email: l.Email, Token: l.Token, URL: linkURL(r, l.Token)})
	}
	return out
}

func (a *parcelAPI) create(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req parcelRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	np := parcel.NewParcel{Kind: req.Kind, Subject: req.Subject, Message: req.Message, Recipients: req.Recipients,
		MaxDownloads: req.MaxDownloads, Passphrase: req.Passphrase, Notify: req.Notify, E2E: req.E2E}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return errs.E(errs.Invalid, `expires_in must be a positive duration such as "72h"`)
		}
		np.Lifetime = d
	}
	if req.KDFSalt != "" {
		salt, err := base64.RawURLEncoding.DecodeString(req.KDFSalt)
		if err != nil {
			return errs.E(errs.Invalid, "kdf_salt must be unpadded base64url")
		}
		np.KDFSalt = salt
	}
	out, links, err := a.ps.Create(r.Context(), p, np)
	if err != nil {
		return err
	}
	res := parcelJSON(out)
	res.Links = linksJSON(r, links)
	w.Header().Set("Location", Prefix+"/parcels/"+out.ID)
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func (a *parcelAPI) list(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errs.E(errs.Invalid, "limit must be a positive number")
		}
		limit = n
	}
	ps, next, err := a.ps.List(r.Context(), p, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	out := make([]parcelOut, 0, len(ps))
	for _, pp := range ps {
		out = append(out, parcelJSON(pp))
	}
	writeJSON(w, http.StatusOK, map[string]any{"parcels": out, "next_cursor": next})
	return nil
}

func (a *parcelAPI) get(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	out, err := a.ps.Get(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, parcelJSON(out))
	return nil
}

func (a *parcelAPI) revoke(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := a.ps.Revoke(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *parcelAPI) close(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := a.ps.Close(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// body returns the announced length and SHA-256 of an upload's body, and lifts the
// read deadline that would cut a large one.
func body(w http.ResponseWriter, r *http.Request) (size int64, sum []byte, err error) {
	size = r.ContentLength
	if size < 0 {
		size = -1
	}
	if v := r.Header.Get("Repr-Digest"); v != "" {
		if sum, err = parseDigest(v); err != nil {
			return 0, nil, errs.E(errs.Invalid, "Repr-Digest: "+err.Error())
		}
	}
	http.NewResponseController(w).SetReadDeadline(time.Time{})
	return size, sum, nil
}

func (a *parcelAPI) addFile(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	size, sum, err := body(w, r)
	if err != nil {
		return err
	}
	f, err := a.ps.AddFile(r.Context(), p, r.PathValue("id"), r.PathValue("f"), r.Body, size, sum)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, fileJSON(f))
	return nil
}

func (a *parcelAPI) ownerDownload(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, pf, err := a.ps.OpenFile(r.Context(), p, r.PathValue("id"), r.PathValue("f"))
	if err != nil {
		return err
	}
	return a.serve(w, r, f, pf)
}

type sendRequest struct {
	Manifest string `json:"manifest"`
}

func (a *parcelAPI) send(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req sendRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	out, links, err := a.ps.Send(r.Context(), p, r.PathValue("id"), req.Manifest)
	if err != nil {
		return err
	}
	res := parcelJSON(out)
	res.Links = linksJSON(r, links)
	writeJSON(w, http.StatusOK, res)
	return nil
}

type recipientRequest struct {
	Email string `json:"email"`
}

func (a *parcelAPI) addRecipient(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req recipientRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	l, err := a.ps.AddRecipient(r.Context(), p, r.PathValue("id"), req.Email)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, linksJSON(r, []parcel.Link{l})[0])
	return nil
}

func (a *parcelAPI) revokeRecipient(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := a.ps.RevokeRecipient(r.Context(), p, r.PathValue("id"), r.PathValue("rid")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// recipientHandler serves a link's holder.
type recipientHandler func(w http.ResponseWriter, r *http.Request, acc parcel.Access) error

// recipient wraps the unauthenticated endpoints: a link that does not exist (probing)
// and a wrong passphrase count toward a ban of the address in the defender, which
// refuses banned addresses before any handler runs (Defend). The answers are never to
// be cached or shown to other sites.
func (a *parcelAPI) recipient(h recipientHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acc := parcel.Access{Token: r.PathValue("token"), Ticket: r.Header.Get(TicketHeader), Client: client(r)}
		if c, err := r.Cookie(TicketCookie); acc.Ticket == "" && err == nil {
			acc.Ticket = c.Value
		}
		if err := h(w, r, acc); err != nil {
			a.s.RecipientRefused(r, err)
			a.s.writeError(w, r, err)
		}
	})
}

// RecipientRefused counts a refused request of a link's holder toward a ban of its
// address: a link that does not exist (probing) and a wrong passphrase. The web's
// recipient pages report theirs here too, so that pages and API share one score.
func (s *Server) RecipientRefused(r *http.Request, err error) {
	if errors.Is(err, parcel.ErrNoUpload) {
		return // a valid link's resumable upload that completed or expired: no probing
	}
	kind := defender.Kind("")
	switch errs.KindOf(err) {
	case errs.NotFound:
		kind = defender.LinkNotFound
	case errs.Unauthenticated:
		kind = defender.LinkRefused
	}
	if kind == "" || s.defender == nil {
		return
	}
	c := client(r)
	if derr := s.defender.Record(context.WithoutCancel(r.Context()), defender.Event{Kind: kind, IP: c.IP, Protocol: c.Protocol}); derr != nil {
		s.log.Error("cannot record a refused parcel link", "err", derr)
	}
}

type viewOut struct {
	Kind         string       `json:"kind"`
	Sender       string       `json:"sender"`
	Subject      string       `json:"subject"`
	Message      string       `json:"message"`
	Expires      time.Time    `json:"expires"`
	E2E          bool         `json:"e2e"`
	KDFSalt      string       `json:"kdf_salt,omitempty"`
	Manifest     string       `json:"manifest,omitempty"`
	Passphrase   bool         `json:"passphrase_required"`
	Locked       bool         `json:"locked"`
	CanUpload    bool         `json:"can_upload"`
	MaxDownloads int64        `json:"max_downloads"`
	Files        []parcelFile `json:"files"`
}

func (a *parcelAPI) view(w http.ResponseWriter, r *http.Request, acc parcel.Access) error {
	v, err := a.ps.View(r.Context(), acc)
	if err != nil {
		return err
	}
	out := viewOut{Kind: v.Kind, Sender: v.Sender, Subject: v.Subject, Message: v.Message, Expires: v.Expires, E2E: v.E2E,
		KDFSalt: b64(v.KDFSalt), Manifest: v.Manifest, Passphrase: v.Passphrase, Locked: v.Locked, CanUpload: v.CanUpload,
		MaxDownloads: v.MaxDownloads, Files: []parcelFile{}}
	for _, f := range v.Files {
		pf := fileJSON(f.File)
		pf.Uploader = ""
		left := f.DownloadsLeft
		pf.Left = &left
		out.Files = append(out.Files, pf)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type unlockRequest struct {
	Passphrase string `json:"passphrase"`
}

func (a *parcelAPI) unlock(w http.ResponseWriter, r *http.Request, acc parcel.Access) error {
	var req unlockRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	ticket, expires, err := a.ps.Unlock(r.Context(), acc, req.Passphrase)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"ticket": ticket, "header": TicketHeader, "expires": expires})
	return nil
}

func (a *parcelAPI) download(w http.ResponseWriter, r *http.Request, acc parcel.Access) error {
	f, pf, err := a.ps.Download(r.Context(), acc, r.PathValue("f"))
	if err != nil {
		return err
	}
	return a.serve(w, r, f, pf)
}

// serve sends a parcel file. An e2e file's stored name is its sealed metadata, so the
// download is named after its id.
func (a *parcelAPI) serve(w http.ResponseWriter, r *http.Request, f *files.Reader, pf parcel.File) error {
	name := pf.Name
	if pf.Sealed || files.CheckName(name) != nil {
		name = pf.ID + ".coffer-parcel"
	}
	setFileHeaders(w, f.Entry)
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", attachment(name))
	return a.s.serveReader(w, r, f)
}

// zip streams every file of the parcel as one zip archive (stored, not compressed: the
// memory and CPU of a download stay small and flat). Each file's download is counted
// before the first byte, so a client cannot exceed its limit by asking for zips.
func (a *parcelAPI) zip(w http.ResponseWriter, r *http.Request, acc parcel.Access) error {
	fs, open, err := a.ps.DownloadAll(r.Context(), acc)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", attachment("parcel.zip"))
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	zw := zip.NewWriter(w)
	for _, pf := range fs {
		f, err := open(pf)
		if err != nil {
			return a.abort(r, err)
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: pf.Name, Method: zip.Store, Modified: pf.Created})
		if err == nil {
			_, err = io.Copy(fw, io.NewSectionReader(f, 0, f.Size()))
		}
		f.CloseWith(err)
		if err != nil {
			return a.abort(r, err)
		}
	}
	if err := zw.Close(); err != nil {
		return a.abort(r, err)
	}
	return nil
}

// abort breaks off a response whose status line is out: the client must not take a
// partial archive for a whole one.
func (a *parcelAPI) abort(r *http.Request, err error) error {
	a.s.log.Warn("parcel download failed after the response began", "path", r.URL.Path, "err", err)
	panic(http.ErrAbortHandler)
}

func (a *parcelAPI) upload(w http.ResponseWriter, r *http.Request, acc parcel.Access) error {
	size, sum, err := body(w, r)
	if err != nil {
		return err
	}
	f, err := a.ps.Upload(r.Context(), acc, r.PathValue("f"), r.Body, size, sum)
	if err != nil {
		return err
	}
	out := fileJSON(f)
	out.Uploader = ""
	writeJSON(w, http.StatusCreated, out)
	return nil
}
