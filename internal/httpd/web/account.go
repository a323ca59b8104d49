package web

import (
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
)

type accountData struct {
	Name, Error, EnrolledText string
	Admin, MustEnrol          bool
	NeedPassword              bool
	TwoFactor                 accounts.TwoFactor
	Enrolment                 *auth.TOTPEnrolment
	QR                        template.HTML
	RecoveryCodes             []string

	Done, NewToken string
	Tokens         []tokenRow
	Keys           []keyRow
	Sessions       []sessionRow
	SignIns        []signInRow
}

type signInRow struct {
	At, How, From string
	OK            bool
}

type tokenRow struct{ ID, Name, Created, Expires, LastUsed string }
type keyRow struct{ Fingerprint, Comment, LastUsed string }
type sessionRow struct {
	ID, User, Method, Created, LastSeen, IP, Agent string
	Current                                        bool // the session of the browser that asks
}

// pending returns the session of a request in any sign-in state, or sends the browser to
// the sign-in page.
func (s *Server) pending(w http.ResponseWriter, r *http.Request) (secret string, ws auth.WebSession, ok bool) {
	c, err := r.Cookie(CookieName)
	if err == nil {
		ws, err = s.sessions.PendingSession(r.Context(), c.Value, client(r))
	}
	if err != nil || ws.State == auth.StateSecondFactor {
		http.Redirect(w, r, "/login?next=/account", http.StatusSeeOther)
		return "", ws, false
	}
	return c.Value, ws, true
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	_, ws, ok := s.pending(w, r)
	if !ok {
		return
	}
	s.renderAccount(w, r, ws, accountData{}, http.StatusOK)
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, ws auth.WebSession, d accountData, code int) {
	d.Name, d.MustEnrol = ws.UserName, ws.State == auth.StateMustEnrol
	d.NeedPassword = !d.MustEnrol && !s.sessions.RecentlyAuthenticated(ws)
	pg := page{Title: "My account", Section: "account"}
	if ws.State == auth.StateComplete {
		p := ws.Principal
		pg.User = &p
		d.Admin = p.Admin
		ctx := r.Context()
		if tf, err := s.accounts.TwoFactor(ctx, p, ws.UserName); err == nil {
			d.TwoFactor = tf
			d.EnrolledText = formatTime(tf.Enrolled)
		}
		if toks, err := s.accounts.ListTokens(ctx, p, p.Name); err == nil {
			for _, t := range toks {
				if !t.Revoked && t.Expires.After(time.Now()) {
					d.Tokens = append(d.Tokens, tokenRow{ID: t.ID, Name: t.Name, Created: formatTime(t.Created), Expires: formatTime(t.Expires), LastUsed: orNever(t.LastUsed)})
				}
			}
		}
		if recs, err := s.accounts.RecentSignIns(ctx, p, 10); err == nil {
			for _, rec := range recs {
				how := rec.Protocol
				if rec.Detail != "" && rec.Result == audit.OK {
					how += " (" + rec.Detail + ")"
				}
				d.SignIns = append(d.SignIns, signInRow{At: formatTime(rec.At), How: how, From: rec.SourceIP, OK: rec.Result == audit.OK})
			}
		}
		if keys, err := s.accounts.ListKeys(ctx, p, p.Name); err == nil {
			for _, k := range keys {
				d.Keys = append(d.Keys, keyRow{Fingerprint: k.Fingerprint, Comment: k.Comment, LastUsed: orNever(k.LastUsed)})
			}
		}
		if sess, err := s.accounts.ListSessions(ctx, p, p.Name); err == nil {
			d.Sessions = s.sessionRows(sess, ws.ID)
		}
	}
	s.render(w, "account", code, pg, d)
}

// beginTOTP starts enrolment: after the password (unless entered in the last minutes, or
// the session may only enrol), a new key shown as a QR code.
func (s *Server) beginTOTP(w http.ResponseWriter, r *http.Request) {
	secret, ws, ok := s.pending(w, r)
	if !ok {
		return
	}
	ctx, c := r.Context(), client(r)
	if pw := r.PostFormValue("password"); pw != "" && ws.State == auth.StateComplete {
		if err := s.sessions.ReAuthenticate(ctx, secret, pw, c); err != nil {
			s.renderAccount(w, r, ws, accountData{Error: userMessage(err, "That password is not right.")}, http.StatusUnauthorized)
			return
		}
	}
	en, err := s.sessions.BeginTOTP(ctx, secret, c)
	if err != nil {
		s.renderAccount(w, r, ws, accountData{Error: userMessage(err, "Enter your password to set up two-step verification.")}, errStatus(err))
		return
	}
	svg, err := qrSVG(en.URI)
	if err != nil {
		s.log.Error("cannot draw the QR code", "err", err)
	}
	s.renderAccount(w, r, ws, accountData{Enrolment: &en, QR: svg}, http.StatusOK)
}

func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	secret, ws, ok := s.pending(w, r)
	if !ok {
		return
	}
	newSecret, codes, err := s.sessions.ConfirmTOTP(r.Context(), secret, strings.ReplaceAll(r.PostFormValue("code"), " ", ""), client(r))
	if err != nil {
		s.renderAccount(w, r, ws, accountData{Error: userMessage(err, "That code is not right: start again and enter the code the app shows now.")}, errStatus(err))
		return
	}
	s.setCookie(w, newSecret, 0)
	if ws2, err := s.sessions.Session(r.Context(), newSecret, client(r)); err == nil {
		ws = ws2
	}
	s.renderAccount(w, r, ws, accountData{RecoveryCodes: codes}, http.StatusOK)
}

// userMessage is what a person is told about err: its detail for refusals, fallback for
// wrong credentials, and nothing internal.
func userMessage(err error, fallback string) string {
	switch errs.KindOf(err) {
	case errs.Unauthenticated:
		return fallback
	case errs.Locked, errs.Permission, errs.Conflict, errs.Invalid, errs.NotFound, errs.Exist:
		return errs.Detail(err)
	}
	return "That did not work because of a problem on the server; try again later or tell your administrator."
}

func errStatus(err error) int {
	switch errs.KindOf(err) {
	case errs.Unauthenticated:
		return http.StatusUnauthorized
	case errs.Locked:
		return http.StatusTooManyRequests
	case errs.Permission:
		return http.StatusForbidden
	case errs.Conflict, errs.Exist:
		return http.StatusConflict
	case errs.NotFound:
		return http.StatusNotFound
	case errs.Invalid:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// qrSVG draws text as a QR code in SVG: one path of the dark modules, with the quiet zone.
// It is made of the code's modules only, so it is safe to embed.
func qrSVG(text string) (template.HTML, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", err
	}
	n := code.Size
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="-4 -4 %d %d" shape-rendering="crispEdges"><path fill="#000" d="`, n+8, n+8)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if code.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()), nil
}

func orNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return formatTime(t)
}

// complete returns the signed-in session of a request and its secret, or sends the
// browser to sign in.
func (s *Server) complete(w http.ResponseWriter, r *http.Request) (secret string, ws auth.WebSession, ok bool) {
	c, err := r.Cookie(CookieName)
	if err == nil {
		ws, err = s.sessions.Session(r.Context(), c.Value, client(r))
	}
	if err != nil {
		http.Redirect(w, r, "/login?next=/account", http.StatusSeeOther)
		return "", ws, false
	}
	return c.Value, ws, true
}

// accountAction serves a form of the account page: it passes the session and its
// secret, for the account actions that may need the password again.
func (s *Server) accountAction(h func(w http.ResponseWriter, r *http.Request, secret string, ws auth.WebSession) (accountData, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret, ws, ok := s.complete(w, r)
		if !ok {
			return
		}
		d, err := h(w, r, secret, ws)
		code := http.StatusOK
		if err != nil {
			d.Error, code = userMessage(err, "That password is not right."), errStatus(err)
		}
		if fresh, err := s.sessions.Session(r.Context(), secret, client(r)); err == nil {
			ws = fresh // e.g. just re-authenticated
		}
		s.renderAccount(w, r, ws, d, code)
	}
}

// reauth checks the password when the form carries one, as sensitive changes need a
// recent password entry.
func (s *Server) reauth(r *http.Request, secret string, ws auth.WebSession) error {
	if s.sessions.RecentlyAuthenticated(ws) {
		return nil
	}
	pw := r.PostFormValue("password")
	if pw == "" {
		return errs.E(errs.Permission, "enter your password to confirm it is you")
	}
	return s.sessions.ReAuthenticate(r.Context(), secret, pw, client(r))
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, secret string, ws auth.WebSession) (accountData, error) {
	if err := s.reauth(r, secret, ws); err != nil {
		return accountData{}, err
	}
	days, err := strconv.Atoi(r.PostFormValue("days"))
	if err != nil || days < 1 || days > 365 {
		return accountData{}, errs.E(errs.Invalid, "a token is valid for 1 to 365 days")
	}
	tok, _, err := s.accounts.CreateToken(r.Context(), ws.Principal, ws.Principal.Name, r.PostFormValue("name"), time.Duration(days)*24*time.Hour)
	if err != nil {
		return accountData{}, err
	}
	return accountData{NewToken: tok}, nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, _ string, ws auth.WebSession) (accountData, error) {
	if err := s.accounts.RevokeToken(r.Context(), ws.Principal, r.PostFormValue("id")); err != nil {
		return accountData{}, err
	}
	return accountData{Done: "The token is revoked."}, nil
}

func (s *Server) addKey(w http.ResponseWriter, r *http.Request, _ string, ws auth.WebSession) (accountData, error) {
	k, err := s.accounts.AddKey(r.Context(), ws.Principal, ws.Principal.Name, r.PostFormValue("key"))
	if err != nil {
		return accountData{}, err
	}
	return accountData{Done: "Key " + k.Fingerprint + " added: it signs you in over SFTP."}, nil
}

func (s *Server) removeKey(w http.ResponseWriter, r *http.Request, _ string, ws auth.WebSession) (accountData, error) {
	if err := s.accounts.RemoveKey(r.Context(), ws.Principal, ws.Principal.Name, r.PostFormValue("fingerprint")); err != nil {
		return accountData{}, err
	}
	return accountData{Done: "The key is removed."}, nil
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request, _ string, ws auth.WebSession) (accountData, error) {
	if err := s.accounts.EndSession(r.Context(), ws.Principal, r.PostFormValue("id")); err != nil {
		return accountData{}, err
	}
	return accountData{Done: "That session is signed out."}, nil
}

// changePassword checks the current password (always: this is the change a thief would
// make first) and sets the new one. Every session of the user ends with it, this one
// too, so the browser goes to the sign-in page.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	secret, ws, ok := s.complete(w, r)
	if !ok {
		return
	}
	newPw := r.PostFormValue("new")
	if newPw != r.PostFormValue("confirm") {
		s.renderAccount(w, r, ws, accountData{Error: "The two new passwords differ."}, http.StatusBadRequest)
		return
	}
	if err := s.sessions.ReAuthenticate(r.Context(), secret, r.PostFormValue("current"), client(r)); err != nil {
		s.renderAccount(w, r, ws, accountData{Error: userMessage(err, "The current password is not right.")}, errStatus(err))
		return
	}
	if err := s.accounts.ChangeOwnPassword(r.Context(), ws.Principal, newPw); err != nil {
		s.renderAccount(w, r, ws, accountData{Error: userMessage(err, "The password could not be changed.")}, errStatus(err))
		return
	}
	s.setCookie(w, "", -1)
	s.render(w, "login", http.StatusOK, page{Title: "Sign in", Flash: "Your password is changed, and every session signed out. Sign in with the new password.", FlashKind: "ok"},
		loginData{Step: "password", Name: ws.Principal.Name, Next: "/files/"})
}
