package accounts_test

import (
	"context"
	"encoding/base32"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
)

const pw = "correct horse battery"

var browser = auth.Client{IP: "192.0.2.9", Protocol: audit.HTTPS, UserAgent: "test"}

type webFixture struct {
	t     *testing.T
	s     *accounts.Service
	w     *auth.Web
	d     *db.DB
	now   time.Time
	root  auth.Principal
	admin auth.Principal
	alice auth.Principal
}

func webSetup(t *testing.T, dsn string) *webFixture {
	t.Helper()
	ctx := context.Background()
	d := dbtest.Open(t, dsn)
	keys, _ := crypt.NewKeyring()
	l := audit.New(d, keys)
	if err := l.Init(ctx); err != nil {
		t.Fatal(err)
	}
	a := auth.New(d, l, auth.DefaultPolicy)
	f := &webFixture{t: t, s: accounts.New(d, l, a), w: auth.NewWeb(a, keys, auth.DefaultSessionPolicy), d: d,
		now: time.Unix(1_800_000_010, 0), root: accounts.LocalAdmin("test")}
	a.SetClock(func() time.Time { return f.now })
	for _, nu := range []accounts.NewUser{{Name: "admin", Password: pw, Admin: true}, {Name: "alice", Password: pw}} {
		u, _, err := f.s.CreateUser(ctx, f.root, nu)
		if err != nil {
			t.Fatal(err)
		}
		p := auth.Principal{UserID: u.ID, Name: u.Name, Admin: u.Admin, Protocol: audit.HTTPS, SourceIP: browser.IP}
		if u.Admin {
			f.admin = p
		} else {
			f.alice = p
		}
	}
	return f
}

func (f *webFixture) signIn(name string, want auth.SessionState) (string, auth.WebSession) {
	f.t.Helper()
	secret, s, err := f.w.SignIn(context.Background(), name, pw, browser)
	if err != nil || s.State != want {
		f.t.Fatalf("sign-in of %s: state %q, %v; want %q", name, s.State, err, want)
	}
	return secret, s
}

func (f *webFixture) live(secret string) bool {
	_, err := f.w.Session(context.Background(), secret, browser)
	return err == nil
}

// enrol sets up TOTP for name and returns a complete session of theirs.
func (f *webFixture) enrol(name string) string {
	f.t.Helper()
	ctx := context.Background()
	secret, _ := f.signIn(name, auth.StateComplete)
	e, err := f.w.BeginTOTP(ctx, secret, browser)
	if err != nil {
		f.t.Fatal(err)
	}
	key, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Key)
	secret, _, err = f.w.ConfirmTOTP(ctx, secret, auth.TOTPCode(key, f.now), browser)
	if err != nil {
		f.t.Fatal(err)
	}
	return secret
}

// lastDetail is the detail of the newest audit record of action.
func (f *webFixture) lastDetail(action string) string {
	f.t.Helper()
	recs, err := f.d.Q().AuditQuery(context.Background(), db.AuditFilter{Action: action}, 1)
	if err != nil || len(recs) == 0 {
		f.t.Fatalf("no %s record: %v", action, err)
	}
	return recs[0].Detail
}

// All of a user's sessions end when their password changes, when their account is
// disabled or forbidden password sign-in, and when their 2FA is reset; other changes
// leave them alone.
func TestSessionsEndWithAccountChanges(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f := webSetup(t, dsn)
		yes, no, quota, newPW := true, false, int64(1<<20), "another long password"
		tests := []struct {
			name   string
			change func() error
			ends   bool
			action string // of the change's audit record...
			detail string // ...whose detail this is
		}{
			{"password", func() error {
				_, err := f.s.UpdateUser(ctx, f.root, "alice", accounts.UserUpdate{Password: &newPW})
				if err == nil {
					_, err = f.s.UpdateUser(ctx, f.root, "alice", accounts.UserUpdate{Password: ptr(pw)})
				}
				return err
			}, true, audit.ActUserPassword, "password changed; 2 web sessions ended"},
			{"disable", func() error {
				_, err := f.s.UpdateUser(ctx, f.root, "alice", accounts.UserUpdate{Disabled: &yes})
				if err == nil {
					_, err = f.s.UpdateUser(ctx, f.root, "alice", accounts.UserUpdate{Disabled: &no})
				}
				return err
			}, true, audit.ActUserUpdate, "disabled=true; 2 web sessions ended"},
			{"password sign-in off", func() error {
				_, err := f.s.UpdateUser(ctx, f.root, "alice", accounts.UserUpdate{PasswordLogin: &no})
				if err == nil {
					_, err = f.s.UpdateUser(ctx, f.root, "alice", accounts.UserUpdate{PasswordLogin: &yes})
				}
				return err
			}, true, audit.ActUserUpdate, "password_login=false; 2 web sessions ended"},
			{"2fa reset", func() error { return f.s.ResetTOTP(ctx, f.root, "alice") }, true, audit.Act2FAReset,
				"totp key removed: false; 0 recovery codes deleted; 2 web sessions ended"},
			{"quota", func() error {
				_, err := f.s.UpdateUser(ctx, f.root, "alice", accounts.UserUpdate{Quota: &quota})
				return err
			}, false, audit.ActUserUpdate, "quota=1048576"},
		}
		for _, tt := range tests {
			one, _ := f.signIn("alice", auth.StateComplete)
			two, _ := f.signIn("alice", auth.StateComplete)
			adminSession, _ := f.signIn("admin", auth.StateComplete)
			if err := tt.change(); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if f.live(one) == tt.ends || f.live(two) == tt.ends {
				t.Errorf("%s: alice's sessions live: %v, %v; want %v", tt.name, f.live(one), f.live(two), !tt.ends)
			}
			if !f.live(adminSession) {
				t.Errorf("%s: another user's session ended", tt.name)
			}
			recs, _ := f.d.Q().AuditQuery(ctx, db.AuditFilter{Action: tt.action}, 2)
			if len(recs) == 0 || (recs[0].Detail != tt.detail && (len(recs) < 2 || recs[1].Detail != tt.detail)) {
				t.Errorf("%s: no %s record with detail %q: %+v", tt.name, tt.action, tt.detail, recs)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestTwoFactorAdministration(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f := webSetup(t, dsn)

		// Only administrators reset and require.
		for what, err := range map[string]error{
			"reset":       f.s.ResetTOTP(ctx, f.alice, "admin"),
			"require":     f.s.Require2FA(ctx, f.alice, "alice", false),
			"require all": f.s.Require2FAForAll(ctx, f.alice, false),
		} {
			if !errs.Is(errs.Permission, err) {
				t.Errorf("alice may %s: %v", what, err)
			}
		}
		if _, err := f.s.TwoFactor(ctx, f.alice, "admin"); !errs.Is(errs.Permission, err) {
			t.Errorf("alice reads admin's 2FA state: %v", err)
		}

		// Requiring 2FA of alice ends her sessions; she must enrol at the next sign-in.
		plain, _ := f.signIn("alice", auth.StateComplete)
		if err := f.s.Require2FA(ctx, f.root, "alice", true); err != nil {
			t.Fatal(err)
		}
		if f.live(plain) {
			t.Error("alice's session without 2FA outlived the requirement")
		}
		if d := f.lastDetail(audit.Act2FARequire); d != "on; 1 web sessions without 2FA ended" {
			t.Errorf("2fa.require detail %q", d)
		}
		f.signIn("alice", auth.StateMustEnrol)
		tf, err := f.s.TwoFactor(ctx, f.alice, "alice")
		if err != nil || !tf.Required() || !tf.RequiredOfUser || tf.Active() {
			t.Fatalf("TwoFactor = %+v, %v", tf, err)
		}
		if err := f.s.Require2FA(ctx, f.root, "alice", false); err != nil {
			t.Fatal(err)
		}
		f.signIn("alice", auth.StateComplete)

		// For all users: sessions with 2FA survive, the others end.
		with := f.enrol("admin")
		without, _ := f.signIn("alice", auth.StateComplete)
		if err := f.s.Require2FAForAll(ctx, f.root, true); err != nil {
			t.Fatal(err)
		}
		if !f.live(with) || f.live(without) {
			t.Errorf("after requiring 2FA of all: session with 2FA live %v, without %v", f.live(with), f.live(without))
		}
		if st, err := f.s.Settings(ctx, f.root); err != nil || !st.Require2FA {
			t.Fatalf("Settings = %+v, %v", st, err)
		}
		f.signIn("alice", auth.StateMustEnrol)
		tf, _ = f.s.TwoFactor(ctx, f.admin, "admin")
		if !tf.Active() || !tf.RequiredOfAll || tf.RecoveryLeft != 10 {
			t.Fatalf("admin's TwoFactor = %+v", tf)
		}

		// A reset removes the key and the codes and ends the sessions.
		if err := f.s.ResetTOTP(ctx, f.root, "admin"); err != nil {
			t.Fatal(err)
		}
		if f.live(with) {
			t.Error("a session outlived the 2FA reset")
		}
		if tf, _ = f.s.TwoFactor(ctx, f.root, "admin"); tf.Active() || tf.RecoveryLeft != 0 {
			t.Fatalf("after reset: %+v", tf)
		}
		if d := f.lastDetail(audit.Act2FAReset); d != "totp key removed: true; 10 recovery codes deleted; 1 web sessions ended" {
			t.Errorf("2fa.reset detail %q", d)
		}
		f.signIn("admin", auth.StateMustEnrol)
		if err := f.s.ResetTOTP(ctx, f.root, "nobody"); !errs.Is(errs.NotFound, err) {
			t.Errorf("reset of an unknown user: %v", err)
		}
	})
}

func TestListAndEndSessions(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		f := webSetup(t, dsn)
		aliceSecret, aliceSession := f.signIn("alice", auth.StateComplete)
		adminSecret, adminSession := f.signIn("admin", auth.StateComplete)

		list, err := f.s.ListSessions(ctx, f.alice, "alice")
		if err != nil || len(list) != 1 || list[0].ID != aliceSession.ID || list[0].UserAgent != "test" || list[0].SourceIP != browser.IP {
			t.Fatalf("alice's own sessions: %+v, %v", list, err)
		}
		if _, err := f.s.ListSessions(ctx, f.alice, "admin"); !errs.Is(errs.Permission, err) {
			t.Fatalf("alice lists admin's sessions: %v", err)
		}
		if list, err := f.s.ListSessions(ctx, f.admin, "alice"); err != nil || len(list) != 1 {
			t.Fatalf("admin lists alice's sessions: %+v, %v", list, err)
		}

		// Another user's session is "not found" to alice; an administrator ends any.
		if err := f.s.EndSession(ctx, f.alice, adminSession.ID); !errs.Is(errs.NotFound, err) || !f.live(adminSecret) {
			t.Fatalf("alice ends admin's session: %v", err)
		}
		if err := f.s.EndSession(ctx, f.admin, aliceSession.ID); err != nil {
			t.Fatal(err)
		}
		if f.live(aliceSecret) {
			t.Fatal("the session lives on after EndSession")
		}
		if err := f.s.EndSession(ctx, f.admin, aliceSession.ID); !errs.Is(errs.NotFound, err) {
			t.Fatalf("ending it twice: %v", err)
		}
		// A user ends their own other session.
		other, otherSession := f.signIn("alice", auth.StateComplete)
		if err := f.s.EndSession(ctx, f.alice, otherSession.ID); err != nil || f.live(other) {
			t.Fatalf("alice ends her own session: %v", err)
		}
		recs, _ := f.d.Q().AuditQuery(ctx, db.AuditFilter{Action: audit.ActSessionEnd}, 10)
		var ok, denied int
		for _, r := range recs {
			switch r.Result {
			case audit.OK:
				ok++
				if r.Target != "session "+aliceSession.ID && r.Target != "session "+otherSession.ID {
					t.Errorf("session.end record %+v", r)
				}
			case audit.Denied:
				denied++
			}
		}
		if ok != 2 || denied != 2 { // denied: alice listing and ending admin's sessions
			t.Fatalf("session.end records: %d ok, %d denied; want 2 and 2", ok, denied)
		}
	})
}
