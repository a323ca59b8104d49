package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Web signs browsers in and keeps their sessions: it is the API that the web interface
// calls to sign in (design: docs/web-auth.md). It is safe for concurrent use.
//
// A browser signs in with a password and, when the user has set up TOTP, a second factor.
// It then holds a session: a random 256-bit secret in a cookie, of which the database
// keeps only the SHA-256, so that any node can serve the session and a copy of the
// database signs nobody in. Sessions end after 30 minutes unused and 12 hours after sign-in
// (SessionPolicy), on sign-out, and, all of a user's at once, when their password changes,
// their account is disabled or their 2FA is reset (package accounts does that, in the
// transaction of the change). A disabled user's session stops working at once.
//
//	w := auth.NewWeb(authService, keyring, auth.DefaultSessionPolicy)
//
//	SignIn(ctx, name, password, client) (secret string, s WebSession, err error)
//	    Checks the password (lockout and audit shared with every protocol) and creates a
//	    session; set its secret as the cookie. s.State says what comes next:
//	    StateComplete: signed in. StateSecondFactor: ask for a code, then call SecondFactor.
//	    StateMustEnrol: 2FA is required but not set up: the session can only enrol
//	    (BeginTOTP, ConfirmTOTP).
//	SecondFactor(ctx, secret, code, client) (newSecret string, err error)
//	    A TOTP code or a recovery code. Completes the session under a NEW secret: replace
//	    the cookie. Wrong codes count toward the account's and the address's lockout.
//	Session(ctx, secret, client) (WebSession, error)
//	    Every request: a complete, live session with its Principal, or Unauthenticated.
//	PendingSession(ctx, secret, client) (WebSession, error)
//	    Only for the pages of a sign-in in progress: a live session in any state. Its
//	    Principal is empty unless the state is StateComplete.
//	SignOut(ctx, secret, client) error
//	ReAuthenticate(ctx, secret, password, client) error, RecentlyAuthenticated(s) bool
//	    Before a sensitive change (password, 2FA, tokens), ask for the password again unless
//	    RecentlyAuthenticated (5 minutes by default).
//	BeginTOTP(ctx, secret, client) (TOTPEnrolment, error)
//	    A new TOTP key to show as a QR code (URI) and as text (Key); needs a recent password
//	    entry unless the session is StateMustEnrol.
//	ConfirmTOTP(ctx, secret, code, client) (newSecret string, recoveryCodes []string, err error)
//	    Activates the key with a first code; returns the 10 recovery codes, to show once, and
//	    the session's NEW secret (replace the cookie). The user's other sessions end.
//	Expired(s) bool, PruneSessions(ctx) (int64, error)
//	    For lists of sessions, and for a periodic job that deletes expired sessions.
//
// Account management of sessions and 2FA lives in package accounts, which checks that the
// actor may do it and audits it, for the web pages and the CLI alike:
// accounts.ListSessions and EndSession (a user's own, or anyone's for an administrator),
// ResetTOTP, Require2FA, Require2FAForAll, TwoFactor and Settings.
//
// Errors are *errs.Error: Unauthenticated (no, unknown, expired or incomplete session;
// wrong password or code), Locked (too many failures), Permission (a sensitive change
// without a recent password entry), Conflict (the step does not fit the session's state,
// e.g. TOTP already set up), Invalid (a malformed or wrong code at enrolment), Integrity
// (a stored TOTP key does not open: it fails closed).
type Web struct {
	auth   *Service
	keys   Sealer
	policy SessionPolicy
}

// SessionState is how far a web session's sign-in has come.
type SessionState string

// Session states, as stored in web_sessions.state.
const (
	StateSecondFactor SessionState = "totp"  // the password was right; a TOTP or recovery code is due
	StateMustEnrol    SessionState = "enrol" // the password was right; 2FA is required and must be set up first
	StateComplete     SessionState = "ok"    // signed in
)

// SessionPolicy sets how long web sessions live.
type SessionPolicy struct {
	Idle         time.Duration // a session unused this long ends
	Absolute     time.Duration // a session ends this long after sign-in, however active
	Pending      time.Duration // how long a sign-in in progress waits for its code or enrolment
	Touch        time.Duration // last_seen is written at most this often
	ReAuthWithin time.Duration // how recent a password entry must be for a sensitive change
}

// DefaultSessionPolicy is what Coffer uses unless configured otherwise.
var DefaultSessionPolicy = SessionPolicy{
	Idle:         30 * time.Minute,
	Absolute:     12 * time.Hour,
	Pending:      15 * time.Minute,
	Touch:        time.Minute,
	ReAuthWithin: 5 * time.Minute,
}

// Sealer seals short secrets under a key-encryption key: crypt.Keyring satisfies it.
type Sealer interface {
	SealSecret(purpose string, binding, secret []byte) (keyID string, sealed []byte, err error)
	OpenSecret(keyID, purpose string, binding, sealed []byte) ([]byte, error)
}

// NewWeb returns a Web that checks passwords and lockouts with a, seals TOTP keys with
// keys, and applies p (zero fields take DefaultSessionPolicy's values). Its clock is a's.
func NewWeb(a *Service, keys Sealer, p SessionPolicy) *Web {
	d := DefaultSessionPolicy
	for _, f := range []struct{ v, def *time.Duration }{{&p.Idle, &d.Idle}, {&p.Absolute, &d.Absolute},
		{&p.Pending, &d.Pending}, {&p.Touch, &d.Touch}, {&p.ReAuthWithin, &d.ReAuthWithin}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return &Web{auth: a, keys: keys, policy: p}
}

// Policy returns the session policy in effect.
func (w *Web) Policy() SessionPolicy { return w.policy }

// WebSession is a web session as the web layer sees it. It never holds the secret.
type WebSession struct {
	ID        string // public handle, for lists and EndSession; not the secret
	UserID    int64
	UserName  string
	State     SessionState
	Principal Principal // the signed-in user; zero unless State is StateComplete
	Method    string    // "password", "password+totp", "password+recovery code"

	Created         time.Time
	LastSeen        time.Time // exact to Policy().Touch
	Expires         time.Time // absolute expiry; the idle expiry is LastSeen + IdleTimeout
	IdleTimeout     time.Duration
	AuthenticatedAt time.Time // when the password was last entered (sign-in or ReAuthenticate)
	SourceIP        string    // at sign-in
	UserAgent       string    // at sign-in, truncated
}

// Session secrets, version 1: "cs1_" followed by 52 lower-case base32 characters (256
// random bits). The database stores SHA-256 of the whole string.
const (
	sessionPrefix    = "cs1_"
	sessionSecretLen = 52
	userAgentMax     = 256 // bytes kept of a User-Agent
)

var (
	errNoSession      = errs.E(errs.Unauthenticated, "not signed in, or the session has ended: sign in again")
	errSessionExpired = errs.E(errs.Unauthenticated, "the session has expired: sign in again")
)

// newSessionSecret returns a fresh cookie value and its hash.
func newSessionSecret() (string, []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	secret := sessionPrefix + strings.ToLower(b32.EncodeToString(b))
	sum := sha256.Sum256([]byte(secret))
	return secret, sum[:]
}

// sessionHash returns the hash of a cookie value, or false when it is not one.
func sessionHash(secret string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(secret, sessionPrefix)
	if !ok || len(rest) != sessionSecretLen {
		return nil, false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return nil, false
		}
	}
	sum := sha256.Sum256([]byte(secret))
	return sum[:], true
}

// newSessionID returns a public session id: 16 lower-case base32 characters.
func newSessionID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(b32.EncodeToString(b))
}

// clipUserAgent keeps a User-Agent fit to store and show: valid UTF-8 without control
// characters, at most userAgentMax bytes.
func clipUserAgent(ua string) string {
	ua = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(ua, ""))
	if len(ua) <= userAgentMax {
		return ua
	}
	cut := userAgentMax
	for cut > 0 && !utf8.RuneStart(ua[cut]) {
		cut--
	}
	return ua[:cut]
}

// webSession converts a row, with a Principal only for a complete session.
func webSession(r db.WebSession, c Client) WebSession {
	s := WebSession{ID: r.ID, UserID: r.UserID, UserName: r.UserName, State: SessionState(r.State), Method: r.Method,
		Created: r.Created, LastSeen: r.LastSeen, Expires: r.Expires, IdleTimeout: r.IdleTimeout,
		AuthenticatedAt: r.AuthenticatedAt, SourceIP: r.SourceIP, UserAgent: r.UserAgent}
	if s.State == StateComplete {
		s.Principal = Principal{UserID: r.UserID, Name: r.UserName, Admin: r.Admin, Protocol: c.Protocol, SourceIP: c.IP, SessionID: r.ID}
	}
	return s
}

// SessionInfo converts a stored session for display (lists of sessions).
func SessionInfo(r db.WebSession) WebSession { return webSession(r, Client{}) }

func webRecord(c Client, actor, action string) audit.Record {
	return audit.Record{Actor: actor, SourceIP: c.IP, Protocol: c.Protocol, Action: action, Result: audit.OK}
}

// SignIn checks name's password and creates a session (see the API above).
// Errors: Unauthenticated, Locked.
func (w *Web) SignIn(ctx context.Context, name, password string, c Client) (string, WebSession, error) {
	const op = errs.Op("auth.SignIn")
	rec := webRecord(c, name, audit.ActLogin)
	rec.Detail = "password"
	u, err := w.auth.verifyPassword(ctx, name, password, ProtoWeb, c, rec)
	if err != nil {
		return "", WebSession{}, errs.E(op, err)
	}
	q := w.auth.db.Q()
	tf, err := q.TwoFactor(ctx, u.ID)
	if err != nil {
		return "", WebSession{}, errs.E(op, err)
	}
	all, err := q.Require2FAForAll(ctx)
	if err != nil {
		return "", WebSession{}, errs.E(op, err)
	}
	now := w.auth.now()
	r := db.WebSession{ID: newSessionID(), UserID: u.ID, UserName: u.Name, Admin: u.Admin, State: string(StateComplete),
		Method: "password", Created: now, LastSeen: now, Expires: now.Add(w.policy.Absolute), IdleTimeout: w.policy.Idle,
		AuthenticatedAt: now, SourceIP: c.IP, UserAgent: clipUserAgent(c.UserAgent)}
	switch {
	case !tf.Enrolled.IsZero():
		r.State = string(StateSecondFactor)
		rec.Action, rec.Detail = audit.ActLoginPartial, "password; awaiting the second factor"
	case tf.Required || all:
		r.State = string(StateMustEnrol)
		rec.Action, rec.Detail = audit.ActLoginPartial, "password; two-factor sign-in is required and must be set up"
	}
	if r.State != string(StateComplete) {
		r.Expires, r.IdleTimeout = now.Add(w.policy.Pending), w.policy.Pending
	}
	rec.Target = "session " + r.ID
	secret, hash := newSessionSecret()
	err = w.auth.db.Tx(ctx, func(q db.Q) error {
		if err := q.InsertWebSession(ctx, r, hash); err != nil {
			return err
		}
		// A password alone must not wipe the count of wrong second factors: otherwise
		// whoever knows it could guess codes forever, a few between sign-ins.
		if r.State != string(StateSecondFactor) {
			if err := q.ClearLoginFailures(ctx, scopeUser, u.Name); err != nil {
				return err
			}
		}
		return w.auth.audit.AppendTx(ctx, q, rec)
	})
	if err != nil {
		return "", WebSession{}, errs.E(op, err)
	}
	return secret, webSession(r, c), nil
}

// live returns the session whose cookie value is secret if it is live: not expired,
// idle or of a disabled user. It deletes a dead one and records activity on a live one.
// The user's own limits (address, protocol) refuse a session used from elsewhere, audited,
// without ending it.
func (w *Web) live(ctx context.Context, secret string, c Client) (db.WebSession, error) {
	hash, ok := sessionHash(secret)
	if !ok {
		return db.WebSession{}, errNoSession
	}
	q := w.auth.db.Q()
	r, err := q.WebSessionBySecret(ctx, hash)
	if errs.Is(errs.NotFound, err) {
		return db.WebSession{}, errNoSession
	}
	if err != nil {
		return db.WebSession{}, err
	}
	now := w.auth.now()
	var dead error
	switch {
	case r.Disabled:
		dead = errNoSession
	case !now.Before(r.Expires), now.Sub(r.LastSeen) >= r.IdleTimeout:
		dead = errSessionExpired
	}
	if dead != nil {
		// Best effort: PruneSessions deletes what this misses.
		_ = q.DeleteWebSession(context.WithoutCancel(ctx), r.ID)
		return db.WebSession{}, dead
	}
	rec := webRecord(c, r.UserName, audit.ActLogin)
	rec.Target, rec.Detail = "session "+r.ID, "web session"
	if err := w.auth.refuseAccess(ctx, r.AllowedIPs, r.Protocols, ProtoWeb, c, rec); err != nil {
		return db.WebSession{}, err
	}
	if now.Sub(r.LastSeen) >= w.policy.Touch {
		// Best effort, like API tokens: a failed touch must not fail the request.
		if q.TouchWebSession(ctx, r.ID, now) == nil {
			r.LastSeen = now
		}
	}
	return r, nil
}

// Session returns the complete, live session whose cookie value is secret, with the
// Principal to act as. Errors: Unauthenticated (no such session, expired, of a disabled
// user, or not complete: see PendingSession).
func (w *Web) Session(ctx context.Context, secret string, c Client) (WebSession, error) {
	const op = errs.Op("auth.Session")
	r, err := w.live(ctx, secret, c)
	if err != nil {
		return WebSession{}, errs.E(op, err)
	}
	switch SessionState(r.State) {
	case StateComplete:
		return webSession(r, c), nil
	case StateMustEnrol:
		return WebSession{}, errs.E(op, errs.Unauthenticated, "two-factor sign-in must be set up before anything else")
	default:
		return WebSession{}, errs.E(op, errs.Unauthenticated, "the sign-in is not complete: enter the code from the authenticator app")
	}
}

// PendingSession returns the live session whose cookie value is secret, in any state,
// for the pages of a sign-in in progress (the second factor, enrolment). Only
// Principal, set for complete sessions alone, authorises anything. Errors: Unauthenticated.
func (w *Web) PendingSession(ctx context.Context, secret string, c Client) (WebSession, error) {
	r, err := w.live(ctx, secret, c)
	if err != nil {
		return WebSession{}, errs.E(errs.Op("auth.PendingSession"), err)
	}
	return webSession(r, c), nil
}

// SignOut ends the session whose cookie value is secret. Signing out of a session that
// has already ended is not an error.
func (w *Web) SignOut(ctx context.Context, secret string, c Client) error {
	const op = errs.Op("auth.SignOut")
	hash, ok := sessionHash(secret)
	if !ok {
		return nil
	}
	err := w.auth.db.Tx(ctx, func(q db.Q) error {
		r, err := q.WebSessionBySecret(ctx, hash)
		if err != nil {
			return err
		}
		if err := q.DeleteWebSession(ctx, r.ID); err != nil {
			return err
		}
		rec := webRecord(c, r.UserName, audit.ActLogout)
		rec.Target = "session " + r.ID
		return w.auth.audit.AppendTx(ctx, q, rec)
	})
	if errs.Is(errs.NotFound, err) {
		return nil
	}
	if err != nil {
		return errs.E(op, err)
	}
	return nil
}

// ReAuthenticate checks the password of the complete session's user again and records
// the time, for sensitive changes (see RecentlyAuthenticated). A wrong password counts
// toward the lockout like any. Errors: Unauthenticated, Locked.
func (w *Web) ReAuthenticate(ctx context.Context, secret, password string, c Client) error {
	const op = errs.Op("auth.ReAuthenticate")
	s, err := w.Session(ctx, secret, c)
	if err != nil {
		return errs.E(op, err)
	}
	rec := webRecord(c, s.UserName, audit.ActSessionReauth)
	rec.Target, rec.Detail = "session "+s.ID, "password"
	u, err := w.auth.verifyPassword(ctx, s.UserName, password, ProtoWeb, c, rec)
	if err != nil {
		return errs.E(op, err)
	}
	if u.ID != s.UserID { // the account was deleted and its name given to someone else
		return errs.E(op, errNoSession)
	}
	err = w.auth.db.Tx(ctx, func(q db.Q) error {
		if err := q.ReauthWebSession(ctx, s.ID, w.auth.now()); err != nil {
			return err
		}
		if err := q.ClearLoginFailures(ctx, scopeUser, u.Name); err != nil {
			return err
		}
		return w.auth.audit.AppendTx(ctx, q, rec)
	})
	if errs.Is(errs.NotFound, err) {
		return errs.E(op, errNoSession)
	}
	if err != nil {
		return errs.E(op, err)
	}
	return nil
}

// RecentlyAuthenticated reports whether s is complete and its password was entered within
// Policy().ReAuthWithin: if not, ask for it again (ReAuthenticate) before a sensitive change.
func (w *Web) RecentlyAuthenticated(s WebSession) bool {
	if s.State != StateComplete || s.AuthenticatedAt.IsZero() {
		return false
	}
	age := w.auth.now().Sub(s.AuthenticatedAt)
	return age >= 0 && age < w.policy.ReAuthWithin
}

// Expired reports whether s has passed its absolute or its idle expiry, for lists of
// sessions (accounts.ListSessions shows expired ones until PruneSessions deletes them).
func (w *Web) Expired(s WebSession) bool {
	now := w.auth.now()
	return !now.Before(s.Expires) || now.Sub(s.LastSeen) >= s.IdleTimeout
}

// PruneSessions deletes the sessions that have expired (absolutely or idle) and reports
// how many; for a periodic job. Lookups refuse expired sessions whether or not it ran.
func (w *Web) PruneSessions(ctx context.Context) (int64, error) {
	n, err := w.auth.db.Q().PruneWebSessions(ctx, w.auth.now())
	if err != nil {
		return 0, errs.E(errs.Op("auth.PruneSessions"), err)
	}
	return n, nil
}
