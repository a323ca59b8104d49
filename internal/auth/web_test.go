package auth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
)

const alicePW = "correct horse battery"

var browser = auth.Client{IP: "192.0.2.7", Protocol: audit.HTTPS, UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}

// webSetup is setup with a Web, on a clock that starts 10 s into a TOTP step.
func webSetup(t *testing.T, dsn string) (*fixture, *auth.Web) {
	t.Helper()
	f := setup(t, dsn)
	f.now = time.Unix(1_800_000_000, 0).Add(10 * time.Second) // 1800000000 is a multiple of 30
	return f, auth.NewWeb(f.s, f.keys, auth.DefaultSessionPolicy)
}

func (f *fixture) step(n int64) int64 { return f.now.Unix()/30 + n }

// codeAt is the TOTP code of key for the step n steps from now.
func (f *fixture) codeAt(key []byte, n int64) string {
	return auth.TOTPCode(key, time.Unix(f.step(n)*30, 0))
}

// wrongCode is a 6-digit code that no step near now accepts.
func (f *fixture) wrongCode(key []byte) string {
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if c != f.codeAt(key, -1) && c != f.codeAt(key, 0) && c != f.codeAt(key, 1) {
			return c
		}
	}
	panic("unreachable")
}

func signIn(t *testing.T, ctx context.Context, w *auth.Web, name string, want auth.SessionState) string {
	t.Helper()
	secret, s, err := w.SignIn(ctx, name, alicePW, browser)
	if err != nil {
		t.Fatalf("sign-in of %s: %v", name, err)
	}
	if s.State != want {
		t.Fatalf("sign-in of %s: state %q, want %q", name, s.State, want)
	}
	return secret
}

// enrol sets up TOTP for the user of the complete (or must-enrol) session secret and
// returns the key, the recovery codes and the session's new secret.
func enrol(t *testing.T, ctx context.Context, f *fixture, w *auth.Web, secret string) ([]byte, []string, string) {
	t.Helper()
	e, err := w.BeginTOTP(ctx, secret, browser)
	if err != nil {
		t.Fatalf("BeginTOTP: %v", err)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Key)
	if err != nil || len(key) != 20 {
		t.Fatalf("TOTP key %q: %d bytes, %v", e.Key, len(key), err)
	}
	newSecret, codes, err := w.ConfirmTOTP(ctx, secret, f.codeAt(key, 0), browser)
	if err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	return key, codes, newSecret
}

func wantKind(t *testing.T, what string, k errs.Kind, err error) {
	t.Helper()
	if !errs.Is(k, err) {
		t.Fatalf("%s: %v, want a %v error", what, err, k)
	}
}

func auditRecords(t *testing.T, f *fixture, action string) []db.AuditRecord {
	t.Helper()
	recs, err := f.d.Q().AuditQuery(context.Background(), db.AuditFilter{Action: action}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestWebSignInAndOut(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f, w := webSetup(t, dsn)
		secret, s, err := w.SignIn(ctx, "alice", alicePW, browser)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "cs1_") || len(secret) != 56 || s.State != auth.StateComplete || s.Method != "password" {
			t.Fatalf("secret %q, session %+v", secret, s)
		}
		p := s.Principal
		if p.UserID != f.alice.ID || p.Name != "alice" || p.SessionID != s.ID || p.Protocol != audit.HTTPS || p.SourceIP != browser.IP {
			t.Fatalf("principal %+v", p)
		}
		got, err := w.Session(ctx, secret, browser)
		if err != nil || got.Principal != p || got.UserAgent != browser.UserAgent || !got.Expires.Equal(f.now.Add(12*time.Hour)) {
			t.Fatalf("Session = %+v, %v", got, err)
		}
		if _, _, err := w.SignIn(ctx, "alice", "wrong", browser); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("wrong password: %v", err)
		}
		for _, bad := range []string{"", "cs1_", secret[:len(secret)-1], secret + "a", strings.ToUpper(secret),
			"cs1_" + strings.Repeat("a", 52), strings.Replace(secret, "cs1_", "cs2_", 1), flipLast(secret)} {
			if _, err := w.Session(ctx, bad, browser); !errs.Is(errs.Unauthenticated, err) {
				t.Errorf("session %q: %v", bad, err)
			}
		}
		if err := w.SignOut(ctx, secret, browser); err != nil {
			t.Fatal(err)
		}
		wantKind(t, "session after sign-out", errs.Unauthenticated, func() error { _, err := w.Session(ctx, secret, browser); return err }())
		if err := w.SignOut(ctx, secret, browser); err != nil {
			t.Fatalf("signing out twice: %v", err)
		}
		out := auditRecords(t, f, audit.ActLogout)
		if len(out) != 1 || out[0].Actor != "alice" || out[0].Target != "session "+s.ID {
			t.Fatalf("logout records: %+v", out)
		}
	})
}

func TestWebSessionExpiry(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f, w := webSetup(t, dsn)
		lastSeen := func(id string) time.Time {
			t.Helper()
			r, err := f.d.Q().WebSessionByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return r.LastSeen
		}
		live := func(secret string) error { _, err := w.Session(ctx, secret, browser); return err }

		// Idle: 30 minutes without a request end the session; each request restarts the count.
		start := f.now
		secret, s, _ := w.SignIn(ctx, "alice", alicePW, browser)
		f.now = f.now.Add(30 * time.Second)
		if err := live(secret); err != nil || !lastSeen(s.ID).Equal(start) {
			t.Fatalf("after 30 s: %v; last seen %v, want %v (touched at most once a minute)", err, lastSeen(s.ID), start)
		}
		f.now = f.now.Add(31 * time.Second)
		if err := live(secret); err != nil || !lastSeen(s.ID).Equal(f.now) {
			t.Fatalf("after 61 s: %v; last seen %v, want %v", err, lastSeen(s.ID), f.now)
		}
		f.now = f.now.Add(29 * time.Minute)
		if err := live(secret); err != nil {
			t.Fatalf("29 minutes idle: %v", err)
		}
		listed, _ := w.PendingSession(ctx, secret, browser)
		if w.Expired(listed) {
			t.Fatal("Expired says a live session has expired")
		}
		f.now = f.now.Add(30 * time.Minute)
		if !w.Expired(listed) {
			t.Fatal("Expired says a session idle for 30 minutes is live")
		}
		if err := live(secret); !errs.Is(errs.Unauthenticated, err) || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("30 minutes idle: %v", err)
		}
		if _, err := f.d.Q().WebSessionByID(ctx, s.ID); !errs.Is(errs.NotFound, err) {
			t.Fatalf("an expired session is kept: %v", err)
		}

		// Absolute: 12 hours after sign-in, however active.
		start = f.now
		secret = signIn(t, ctx, w, "alice", auth.StateComplete)
		for f.now.Sub(start) < 12*time.Hour-20*time.Minute {
			f.now = f.now.Add(20 * time.Minute)
			if err := live(secret); err != nil {
				t.Fatalf("active session after %v: %v", f.now.Sub(start), err)
			}
		}
		f.now = start.Add(12 * time.Hour)
		if err := live(secret); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("active session after 12 h: %v", err)
		}

		// PruneSessions deletes what has expired and nothing else.
		old := signIn(t, ctx, w, "alice", auth.StateComplete)
		f.now = f.now.Add(20 * time.Minute)
		fresh := signIn(t, ctx, w, "alice", auth.StateComplete)
		f.now = f.now.Add(15 * time.Minute)
		if n, err := w.PruneSessions(ctx); err != nil || n != 1 {
			t.Fatalf("PruneSessions = %d, %v; want 1", n, err)
		}
		if live(fresh) != nil || live(old) == nil {
			t.Fatal("PruneSessions deleted the wrong session")
		}
	})
}

func TestWebTOTP(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f, w := webSetup(t, dsn)
		secret := signIn(t, ctx, w, "alice", auth.StateComplete)
		e, err := w.BeginTOTP(ctx, secret, browser)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(e.URI, "otpauth://totp/Coffer:alice?") || !strings.Contains(e.URI, "issuer=Coffer") ||
			!strings.Contains(e.URI, "secret="+e.Key) || e.Account != "alice" {
			t.Fatalf("enrolment %+v", e)
		}
		key, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Key)
		// Not active before confirmation: sign-in needs no code yet.
		signIn(t, ctx, w, "alice", auth.StateComplete)
		if _, _, err := w.ConfirmTOTP(ctx, secret, f.wrongCode(key), browser); !errs.Is(errs.Invalid, err) {
			t.Fatalf("confirming with a wrong code: %v", err)
		}
		confirmed, codes, err := w.ConfirmTOTP(ctx, secret, f.codeAt(key, 0), browser)
		if err != nil || len(codes) != 10 || confirmed == secret {
			t.Fatalf("ConfirmTOTP: %d codes, %v", len(codes), err)
		}
		if _, err := w.Session(ctx, secret, browser); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("the session's old secret still works after ConfirmTOTP: %v", err)
		}
		if _, err := w.Session(ctx, confirmed, browser); err != nil {
			t.Fatalf("the new secret: %v", err)
		}
		if _, err := w.BeginTOTP(ctx, confirmed, browser); !errs.Is(errs.Conflict, err) {
			t.Fatalf("enrolling twice: %v", err)
		}
		if recs := auditRecords(t, f, audit.Act2FAEnrol); len(recs) != 3 { // begun, wrong code, confirmed
			t.Fatalf("%d 2fa.enrol records, want 3", len(recs))
		}

		// Now sign-in takes two steps. Two steps later, the previous step's code (the
		// phone lags) is accepted once.
		f.now = f.now.Add(60 * time.Second)
		pending, s, err := w.SignIn(ctx, "alice", alicePW, browser)
		if err != nil || s.State != auth.StateSecondFactor || s.Principal != (auth.Principal{}) {
			t.Fatalf("sign-in with TOTP: %+v, %v", s, err)
		}
		wantKind(t, "a half-signed-in session", errs.Unauthenticated, func() error { _, err := w.Session(ctx, pending, browser); return err }())
		if ps, err := w.PendingSession(ctx, pending, browser); err != nil || ps.State != auth.StateSecondFactor || ps.UserName != "alice" || ps.Principal != (auth.Principal{}) {
			t.Fatalf("PendingSession = %+v, %v", ps, err)
		}
		if _, err := w.BeginTOTP(ctx, pending, browser); !errs.Is(errs.Conflict, err) {
			t.Fatalf("BeginTOTP before the second factor: %v", err)
		}
		done, err := w.SecondFactor(ctx, pending, f.codeAt(key, -1), browser)
		if err != nil {
			t.Fatalf("code of the previous step: %v", err)
		}
		full, err := w.Session(ctx, done, browser)
		if err != nil || full.Method != "password+totp" || full.Principal.Name != "alice" {
			t.Fatalf("session after the second factor: %+v, %v", full, err)
		}
		wantKind(t, "the pending secret after completion", errs.Unauthenticated, func() error { _, err := w.PendingSession(ctx, pending, browser); return err }())
		if _, err := w.SecondFactor(ctx, done, f.codeAt(key, 0), browser); !errs.Is(errs.Conflict, err) {
			t.Fatalf("a second factor for a complete session: %v", err)
		}

		// Replay: that code is spent; the current one works.
		pending = signIn(t, ctx, w, "alice", auth.StateSecondFactor)
		if _, err := w.SecondFactor(ctx, pending, f.codeAt(key, -1), browser); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("replayed code: %v", err)
		}
		if _, err := w.SecondFactor(ctx, pending, f.codeAt(key, 0), browser); err != nil {
			t.Fatalf("current code: %v", err)
		}
		// The next step's code (the phone runs ahead) is accepted; afterwards older codes
		// are not, nor codes two steps away.
		pending = signIn(t, ctx, w, "alice", auth.StateSecondFactor)
		if _, err := w.SecondFactor(ctx, pending, f.codeAt(key, 1), browser); err != nil {
			t.Fatalf("code of the next step: %v", err)
		}
		pending = signIn(t, ctx, w, "alice", auth.StateSecondFactor)
		for _, n := range []int64{0, 2, -2} {
			if _, err := w.SecondFactor(ctx, pending, f.codeAt(key, n), browser); !errs.Is(errs.Unauthenticated, err) {
				t.Fatalf("code of step %+d: %v", n, err)
			}
		}
		f.now = f.now.Add(60 * time.Second)
		if _, err := w.SecondFactor(ctx, pending, f.codeAt(key, 0), browser); err != nil {
			t.Fatalf("a new code a minute later: %v", err)
		}
		logins := 0
		for _, r := range auditRecords(t, f, audit.ActLogin) {
			if r.Result == audit.OK && r.Detail == "password+totp" {
				logins++
			}
		}
		if logins != 4 {
			t.Errorf("%d password+totp logins audited, want 4", logins)
		}
		checkAuditClean(t, f, append([]string{e.Key, strings.ToLower(e.Key), secret, confirmed, done}, codes...))
	})
}

// checkAuditClean fails if any audit record holds one of secrets.
func checkAuditClean(t *testing.T, f *fixture, secrets []string) {
	t.Helper()
	recs, err := f.d.Q().AuditQuery(context.Background(), db.AuditFilter{}, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		all := strings.Join([]string{r.Actor, r.Path, r.Target, r.Detail}, "|")
		for _, s := range secrets {
			if strings.Contains(all, s) || strings.Contains(all, strings.ReplaceAll(s, "-", "")) {
				t.Errorf("audit record %d holds a secret: %q", r.Seq, all)
			}
		}
	}
}

func TestWebRecoveryCodes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f, w := webSetup(t, dsn)
		_, codes, _ := enrol(t, ctx, f, w, signIn(t, ctx, w, "alice", auth.StateComplete))
		pending := signIn(t, ctx, w, "alice", auth.StateSecondFactor)
		typed := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
		done, err := w.SecondFactor(ctx, pending, typed, browser)
		if err != nil {
			t.Fatalf("recovery code %q: %v", typed, err)
		}
		if s, err := w.Session(ctx, done, browser); err != nil || s.Method != "password+recovery code" {
			t.Fatalf("session %+v, %v", s, err)
		}
		var found bool
		for _, r := range auditRecords(t, f, audit.ActLogin) {
			found = found || (r.Result == audit.OK && r.Detail == "password+recovery code (9 left)")
		}
		if !found {
			t.Error("no login record with method password+recovery code and the count left")
		}
		pending = signIn(t, ctx, w, "alice", auth.StateSecondFactor)
		if _, err := w.SecondFactor(ctx, pending, codes[0], browser); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("a used recovery code: %v", err)
		}
		if _, err := w.SecondFactor(ctx, pending, codes[1], browser); err != nil {
			t.Fatalf("an unused recovery code: %v", err)
		}
		tf, _ := f.d.Q().TwoFactor(ctx, f.alice.ID)
		if tf.RecoveryLeft != 8 {
			t.Fatalf("%d recovery codes left, want 8", tf.RecoveryLeft)
		}
		checkAuditClean(t, f, codes)
	})
}

// Wrong codes lock the account like wrong passwords, and signing in again with the
// password does not reset the count.
func TestWebSecondFactorLockout(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f, w := webSetup(t, dsn)
		key, _, _ := enrol(t, ctx, f, w, signIn(t, ctx, w, "alice", auth.StateComplete))
		pending := signIn(t, ctx, w, "alice", auth.StateSecondFactor)
		for _, code := range []string{f.wrongCode(key), "not-a-code", "abcd-efgh-ijkl-mnop"} {
			if _, err := w.SecondFactor(ctx, pending, code, browser); !errs.Is(errs.Unauthenticated, err) {
				t.Fatalf("wrong code %q: %v", code, err)
			}
		}
		pending = signIn(t, ctx, w, "alice", auth.StateSecondFactor)
		for range 2 {
			if _, err := w.SecondFactor(ctx, pending, f.wrongCode(key), browser); !errs.Is(errs.Unauthenticated, err) {
				t.Fatalf("wrong code: %v", err)
			}
		}
		// Five failures: locked, even with the right code, and for password sign-in too.
		_, err := w.SecondFactor(ctx, pending, f.codeAt(key, 0), browser)
		if !errs.Is(errs.Locked, err) || !strings.Contains(err.Error(), "locked until") {
			t.Fatalf("right code after 5 wrong ones: %v", err)
		}
		if _, _, err := w.SignIn(ctx, "alice", alicePW, browser); !errs.Is(errs.Locked, err) {
			t.Fatalf("password sign-in after 5 wrong codes: %v", err)
		}
		if _, err := f.s.Password(ctx, "alice", alicePW, auth.Client{IP: "198.51.100.1", Protocol: audit.SFTP}); !errs.Is(errs.Locked, err) {
			t.Fatalf("SFTP password after 5 wrong codes: %v", err)
		}
		if recs := auditRecords(t, f, audit.ActLockout); len(recs) != 1 || recs[0].Path != "user:alice" {
			t.Fatalf("lockout records: %+v", recs)
		}
		f.now = f.now.Add(16 * time.Minute)
		pending = signIn(t, ctx, w, "alice", auth.StateSecondFactor)
		if _, err := w.SecondFactor(ctx, pending, f.codeAt(key, 0), browser); err != nil {
			t.Fatalf("after the lockout ended: %v", err)
		}
	})
}

func TestWebMustEnrol(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f, w := webSetup(t, dsn)
		if err := f.d.Q().SetRequire2FA(ctx, f.alice.ID, true); err != nil {
			t.Fatal(err)
		}
		secret := signIn(t, ctx, w, "alice", auth.StateMustEnrol)
		wantKind(t, "a must-enrol session", errs.Unauthenticated, func() error { _, err := w.Session(ctx, secret, browser); return err }())
		if _, err := w.SecondFactor(ctx, secret, "123456", browser); !errs.Is(errs.Conflict, err) {
			t.Fatalf("SecondFactor in a must-enrol session: %v", err)
		}
		if err := w.ReAuthenticate(ctx, secret, alicePW, browser); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("ReAuthenticate in a must-enrol session: %v", err)
		}
		f.now = f.now.Add(10 * time.Minute) // enrolment needs no fresh password entry
		_, _, done := enrol(t, ctx, f, w, secret)
		s, err := w.Session(ctx, done, browser)
		if err != nil || s.Method != "password+totp" || !s.Expires.Equal(f.now.Add(-10*time.Minute).Add(12*time.Hour)) {
			t.Fatalf("after enrolment: %+v, %v", s, err)
		}

		// The setting for all users; an unfinished sign-in expires after 15 minutes.
		h, _ := auth.HashPassword(alicePW)
		if _, err := f.d.Q().CreateUser(ctx, db.NewUser{Name: "bob", PasswordHash: h}); err != nil {
			t.Fatal(err)
		}
		signIn(t, ctx, w, "bob", auth.StateComplete)
		if err := f.d.Q().SetRequire2FAForAll(ctx, true); err != nil {
			t.Fatal(err)
		}
		bob := signIn(t, ctx, w, "bob", auth.StateMustEnrol)
		f.now = f.now.Add(15 * time.Minute)
		if _, err := w.BeginTOTP(ctx, bob, browser); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("enrolment 15 minutes after sign-in: %v", err)
		}
	})
}

func TestWebReAuthenticate(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f, w := webSetup(t, dsn)
		secret := signIn(t, ctx, w, "alice", auth.StateComplete)
		session := func() auth.WebSession {
			t.Helper()
			s, err := w.Session(ctx, secret, browser)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		if !w.RecentlyAuthenticated(session()) {
			t.Fatal("just signed in, yet not recently authenticated")
		}
		f.now = f.now.Add(5 * time.Minute)
		if w.RecentlyAuthenticated(session()) {
			t.Fatal("recently authenticated 5 minutes after sign-in")
		}
		if _, err := w.BeginTOTP(ctx, secret, browser); !errs.Is(errs.Permission, err) {
			t.Fatalf("BeginTOTP without a fresh password entry: %v", err)
		}
		if err := w.ReAuthenticate(ctx, secret, "wrong password", browser); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("wrong password: %v", err)
		}
		if err := w.ReAuthenticate(ctx, secret, alicePW, browser); err != nil {
			t.Fatal(err)
		}
		if s := session(); !w.RecentlyAuthenticated(s) || !s.AuthenticatedAt.Equal(f.now) {
			t.Fatalf("after ReAuthenticate: %+v", s)
		}
		if _, err := w.BeginTOTP(ctx, secret, browser); err != nil {
			t.Fatalf("BeginTOTP after ReAuthenticate: %v", err)
		}
		recs := auditRecords(t, f, audit.ActSessionReauth)
		if len(recs) != 2 || recs[0].Result != audit.OK || recs[1].Result != audit.Denied {
			t.Fatalf("session.reauth records: %+v", recs)
		}
	})
}

// A disabled user's sessions stop at once, whoever disabled the account and how.
func TestWebDisabledUser(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f, w := webSetup(t, dsn)
		secret := signIn(t, ctx, w, "alice", auth.StateComplete)
		if err := f.d.Q().SetDisabled(ctx, f.alice.ID, true); err != nil {
			t.Fatal(err)
		}
		wantKind(t, "session of a disabled user", errs.Unauthenticated, func() error { _, err := w.Session(ctx, secret, browser); return err }())
		f.d.Q().SetDisabled(ctx, f.alice.ID, false)
		wantKind(t, "session after re-enabling", errs.Unauthenticated, func() error { _, err := w.Session(ctx, secret, browser); return err }())
	})
}

// Neither cookie secrets, nor TOTP keys, nor recovery codes are in the database file in
// any form; only their hashes (or the sealed key) are.
func TestWebSecretsNotStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := dbtest.SQLiteDSN(t)
	f, w := webSetup(t, dsn)
	first := signIn(t, ctx, w, "alice", auth.StateComplete)
	key, codes, second := enrol(t, ctx, f, w, first)
	f.now = f.now.Add(time.Minute)
	pending := signIn(t, ctx, w, "alice", auth.StateSecondFactor)
	third, err := w.SecondFactor(ctx, pending, f.codeAt(key, 0), browser)
	if err != nil {
		t.Fatal(err)
	}
	var files []byte
	entries, _ := os.ReadDir(filepath.Dir(dsn))
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(dsn), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b...)
	}
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	forbidden := map[string][]byte{"TOTP key": key, "TOTP key, base32": []byte(b32.EncodeToString(key)),
		"TOTP key, base32 lower case": []byte(strings.ToLower(b32.EncodeToString(key)))}
	for _, s := range []string{first, second, pending, third} {
		forbidden["cookie "+s] = []byte(s)
		raw, err := b32.DecodeString(strings.ToUpper(strings.TrimPrefix(s, "cs1_")))
		if err != nil {
			t.Fatal(err)
		}
		forbidden["cookie bytes of "+s] = raw
	}
	for _, c := range codes {
		forbidden["recovery code "+c] = []byte(c)
		forbidden["recovery code "+c+" without dashes"] = []byte(strings.ReplaceAll(c, "-", ""))
	}
	for what, b := range forbidden {
		if bytes.Contains(files, b) {
			t.Errorf("the database files hold the %s", what)
		}
	}
	// The scan sees what is stored: the hash of the live session's secret is there.
	if sum := sha256.Sum256([]byte(third)); !bytes.Contains(files, sum[:]) {
		t.Error("the scan does not find the stored hash of the session secret: is it reading the right files?")
	}
}

// A sealed TOTP key that was altered, or moved to another user, fails closed.
func TestWebTamperedTOTPKey(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f, w := webSetup(t, dsn)
		h, _ := auth.HashPassword(alicePW)
		bob, err := f.d.Q().CreateUser(ctx, db.NewUser{Name: "bob", PasswordHash: h})
		if err != nil {
			t.Fatal(err)
		}
		aliceKey, _, _ := enrol(t, ctx, f, w, signIn(t, ctx, w, "alice", auth.StateComplete))
		enrol(t, ctx, f, w, signIn(t, ctx, w, "bob", auth.StateComplete))
		f.now = f.now.Add(time.Minute)

		driver := "sqlite"
		if db.IsPostgres(dsn) {
			driver = "pgx"
		}
		raw, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		stored, err := f.d.Q().TOTPKey(ctx, f.alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		flipped := bytes.Clone(stored.Sealed)
		flipped[len(flipped)/2] ^= 1
		if _, err := raw.ExecContext(ctx, `UPDATE totp_keys SET sealed = $1 WHERE user_id = $2`, flipped, f.alice.ID); err != nil {
			t.Fatal(err)
		}
		pending := signIn(t, ctx, w, "alice", auth.StateSecondFactor)
		if _, err := w.SecondFactor(ctx, pending, f.codeAt(aliceKey, 0), browser); !errs.Is(errs.Integrity, err) {
			t.Fatalf("altered key: %v", err)
		}

		// Bob's key copied into alice's row does not open for alice.
		bobs, err := f.d.Q().TOTPKey(ctx, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, `UPDATE totp_keys SET key_id = $1, sealed = $2 WHERE user_id = $3`, bobs.KeyID, bobs.Sealed, f.alice.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.SecondFactor(ctx, pending, "123456", browser); !errs.Is(errs.Integrity, err) {
			t.Fatalf("another user's key: %v", err)
		}
		if _, err := w.Session(ctx, pending, browser); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("the session completed despite the bad key: %v", err)
		}
		failed := 0
		for _, r := range auditRecords(t, f, audit.ActLogin) {
			if r.Result == audit.Failed && strings.Contains(r.Detail, "does not open") {
				failed++
			}
		}
		if failed != 2 {
			t.Errorf("%d failed logins audited for the bad key, want 2", failed)
		}
	})
}
