package web

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"rsc.io/qr"

	"github.com/coffer-mft/coffer/internal/accounts"
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
		if tf, err := s.accounts.TwoFactor(r.Context(), p, ws.UserName); err == nil {
			d.TwoFactor = tf
			d.EnrolledText = formatTime(tf.Enrolled)
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
	case errs.Locked, errs.Permission, errs.Conflict, errs.Invalid:
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
	case errs.Conflict:
		return http.StatusConflict
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
