// Package web is the browser interface: server-rendered pages (html/template) with a
// little of our own JavaScript, all embedded in the binary. It is a thin adapter like the
// REST API: it signs people in through the sessions backend and calls the files and
// accounts use cases; actions on files from the page's scripts go through the REST API,
// which accepts the session cookie (SessionPrincipal).
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/parcel"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CookieName is the session cookie. The __Host- prefix makes browsers accept it only
// when it is Secure, set by this host and for the whole site.
const CookieName = "__Host-coffer"

// Server serves the web pages.
type Server struct {
	files    *files.Service
	accounts *accounts.Service
	parcels  *parcel.Service // nil until EnableParcels
	// recipientRefused scores a refused link in the defender (EnableParcels).
	recipientRefused func(*http.Request, error)
	hasE2E           bool // static/parcel-e2e.js is present
	sessions         *auth.Web
	log              *slog.Logger
	version          string
	assets           string // hash of the static files, for their URLs
	pages            map[string]*template.Template
	static           http.Handler
	mux              *http.ServeMux

	// Tripwires serves the Alerts page (alerts.go); nil: the page says they are off.
	Tripwires *tripwire.Service
}

// New returns the web server.
func New(f *files.Service, a *accounts.Service, s *auth.Web, log *slog.Logger, version string) (*Server, error) {
	w := &Server{files: f, accounts: a, sessions: s, log: log, version: version, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	funcs := template.FuncMap{
		"fmtTime": formatTime,
		// sessionsOf gives the session table its rows and the user whose page it is on
		// ("" on the list of everyone's sessions).
		"sessionsOf": func(user string, rows []sessionRow) any {
			return struct {
				User string
				Rows []sessionRow
			}{user, rows}
		},
	}
	for _, page := range []string{"login", "files", "account", "admin", "recipient", "parcels"} {
		t, err := template.New(page).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page+"*.html")
		if err != nil {
			return nil, fmt.Errorf("web template %s: %w", page, err)
		}
		w.pages[page] = t
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	if w.assets, err = assetVersion(sub); err != nil {
		return nil, err
	}
	_, err = fs.Stat(sub, e2eScript)
	w.hasE2E = err == nil
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	w.static = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		// The pages name static files with ?v= the hash of them all, so a browser may keep
		// what it fetched with the current hash for good, and nothing else.
		if r.URL.Query().Get("v") == w.assets {
			rw.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			rw.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(rw, r)
	})
	w.routes()
	return w, nil
}

func (s *Server) routes() {
	m := s.mux
	m.Handle("GET /static/", s.static)
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/files/", http.StatusSeeOther) })
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /login/2fa", s.secondFactor)
	m.HandleFunc("POST /logout", s.logout)
	m.HandleFunc("GET /files/", s.signedIn(s.filesPage))
	m.HandleFunc("GET /account", s.accountPage)
	m.HandleFunc("POST /account/2fa/begin", s.beginTOTP)
	m.HandleFunc("POST /account/2fa/confirm", s.confirmTOTP)
	m.HandleFunc("POST /account/password", s.changePassword)
	m.HandleFunc("POST /account/tokens", s.accountAction(s.createToken))
	m.HandleFunc("POST /account/tokens/revoke", s.accountAction(s.revokeToken))
	m.HandleFunc("POST /account/keys", s.accountAction(s.addKey))
	m.HandleFunc("POST /account/keys/remove", s.accountAction(s.removeKey))
	m.HandleFunc("POST /account/sessions/end", s.accountAction(s.endSession))
	m.HandleFunc("GET /admin/{$}", s.adminOnly(s.dashboardPage))
	m.HandleFunc("GET /admin/users", s.adminOnly(s.usersPage))
	m.HandleFunc("POST /admin/users", s.adminOnly(s.createUser))
	m.HandleFunc("POST /admin/users/state", s.adminOnly(s.setUserState))
	m.HandleFunc("POST /admin/users/reset-2fa", s.adminOnly(s.resetTOTP))
	m.HandleFunc("POST /admin/users/require-2fa", s.adminOnly(s.setRequire2FAForAll))
	m.HandleFunc("GET /admin/users/{name}", s.adminOnly(s.userPage))
	m.HandleFunc("POST /admin/users/{name}/settings", s.adminOnly(s.saveUser))
	m.HandleFunc("POST /admin/users/{name}/password", s.adminOnly(s.resetPassword))
	m.HandleFunc("POST /admin/users/{name}/groups", s.adminOnly(s.setGroups))
	m.HandleFunc("GET /admin/groups", s.adminOnly(s.groupsPage))
	m.HandleFunc("POST /admin/groups", s.adminOnly(s.createGroup))
	m.HandleFunc("POST /admin/groups/delete", s.adminOnly(s.deleteGroup))
	m.HandleFunc("POST /admin/groups/members", s.adminOnly(s.setGroupMember))
	m.HandleFunc("GET /admin/sessions", s.adminOnly(s.sessionsPage))
	m.HandleFunc("POST /admin/sessions/end", s.adminOnly(s.endAnySession))
	m.HandleFunc("GET /admin/bans", s.adminOnly(s.bansPage))
	m.HandleFunc("POST /admin/bans/lift", s.adminOnly(s.liftBan))
	m.HandleFunc("GET /admin/audit", s.adminOnly(s.auditPage))
	m.HandleFunc("GET /admin/audit/export", s.adminOnly(s.auditExport))
	m.HandleFunc("GET /admin/folders", s.adminOnly(s.foldersPage))
	m.HandleFunc("POST /admin/folders", s.adminOnly(s.createFolder))
	m.HandleFunc("POST /admin/grants", s.adminOnly(s.setGrant))
	m.HandleFunc("GET /admin/alerts", s.adminOnly(s.alertsPage))
	m.HandleFunc("POST /admin/alerts/ack", s.adminOnly(s.ackAlert))
	m.HandleFunc("POST /admin/alerts/lift", s.adminOnly(s.liftSuspension))
	m.HandleFunc("POST /admin/alerts/canary", s.adminOnly(s.setCanary))
	m.HandleFunc("POST /admin/alerts/decoy", s.adminOnly(s.createDecoy))
}

// ServeHTTP adds the security headers every page gets, and refuses cross-origin
// state-changing requests (with SameSite=Strict cookies, a second line of defence).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		// A forged request from another site, or a misconfigured proxy: worth a line.
		s.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"),
			"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "client", client(r).IP)
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// page is what every template gets.
type page struct {
	Title, Section, Dir string
	User                *auth.Principal
	Flash, FlashKind    string
	Version             string
	Assets              string // ?v= of static files
	Scripts             []string
	Data                any
}

func (s *Server) render(w http.ResponseWriter, name string, code int, p page, data any) {
	p.Version, p.Assets, p.Data = s.version, s.assets, data
	if name == "admin" {
		p.Scripts = append(p.Scripts, "admin.js")
	}
	var b strings.Builder
	if err := s.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		s.log.Error("web template failed", "page", name, "err", err)
		http.Error(w, "the page could not be shown; the administrator can find the cause in the server log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprint(w, b.String())
}

func client(r *http.Request) auth.Client {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = strings.Trim(host[:i], "[]")
	}
	return auth.Client{IP: host, Protocol: audit.HTTPS, UserAgent: r.UserAgent()}
}

func (s *Server) setCookie(w http.ResponseWriter, secret string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: secret, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// SessionPrincipal returns the signed-in principal of a request's session cookie, for the
// REST API; ok is false when there is no cookie.
func (s *Server) SessionPrincipal(r *http.Request) (p auth.Principal, ok bool, err error) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return auth.Principal{}, false, nil
	}
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return auth.Principal{}, true, errs.E(errs.Permission, "cross-origin request refused")
	}
	ws, err := s.sessions.Session(r.Context(), c.Value, client(r))
	return ws.Principal, true, err
}

// signedIn passes the session's principal to h, or sends the browser to the sign-in page.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, auth.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(CookieName)
		if err == nil {
			if ws, err := s.sessions.Session(r.Context(), c.Value, client(r)); err == nil {
				h(w, r, ws.Principal)
				return
			}
		}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	}
}

type loginData struct {
	Step, Name, Next, Error string
}

// safeNext keeps a post-sign-in destination on this site.
func safeNext(v string) string {
	if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.HasPrefix(v, "/\\") {
		return "/files/"
	}
	return v
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, "login", http.StatusOK, page{Title: "Sign in"}, loginData{Step: "password", Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	name, next := r.PostFormValue("user"), safeNext(r.PostFormValue("next"))
	secret, ws, err := s.sessions.SignIn(r.Context(), name, r.PostFormValue("password"), client(r))
	if err != nil {
		code, msg := http.StatusUnauthorized, "The user name or password is wrong."
		if errs.KindOf(err) == errs.Locked {
			code, msg = http.StatusTooManyRequests, errs.Detail(err)
		} else if errors.Is(err, auth.ErrSuspended) {
			msg = "This account is suspended pending review after a download tripwire fired: ask an administrator to lift the suspension."
		} else if why := auth.AccessRefusal(err); why != "" {
			msg = strings.ToUpper(why[:1]) + why[1:] + "."
		} else if k := errs.KindOf(err); k != errs.Unauthenticated && k != errs.NotFound {
			s.log.Error("sign-in failed", "err", err)
			code, msg = http.StatusInternalServerError, "Signing in is not possible right now; try again later or tell your administrator."
		}
		s.render(w, "login", code, page{Title: "Sign in"}, loginData{Step: "password", Name: name, Next: next, Error: msg})
		return
	}
	s.setCookie(w, secret, 0)
	if ws.State == auth.StateSecondFactor {
		s.render(w, "login", http.StatusOK, page{Title: "Two-step verification"}, loginData{Step: "code", Next: next})
		return
	}
	if ws.State == auth.StateMustEnrol {
		next = "/account"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) secondFactor(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	c, err := r.Cookie(CookieName)
	if err != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	secret, err := s.sessions.SecondFactor(r.Context(), c.Value, r.PostFormValue("code"), client(r))
	if err != nil {
		code, msg := http.StatusUnauthorized, "That code is not right. Codes change every 30 seconds; check your phone's clock."
		if errs.KindOf(err) == errs.Locked {
			code, msg = http.StatusTooManyRequests, errs.Detail(err)
		}
		s.render(w, "login", code, page{Title: "Two-step verification"}, loginData{Step: "code", Next: next, Error: msg})
		return
	}
	s.setCookie(w, secret, 0) // a new secret now that the session is complete
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		if err := s.sessions.SignOut(r.Context(), c.Value, client(r)); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("sign-out failed", "err", err)
		}
	}
	s.setCookie(w, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// assetVersion hashes the static files, in the order fs.WalkDir visits them.
func assetVersion(fsys fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		fmt.Fprintf(h, "%s %d\n", path, len(b))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil)[:8]), err
}

// formatBytes writes a size as people read it (decimal units, as file managers do).
func formatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	if v < 10 {
		return fmt.Sprintf("%.1f %cB", v, "kMGTP"[exp])
	}
	return fmt.Sprintf("%.0f %cB", v, "kMGTP"[exp])
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04")
}
