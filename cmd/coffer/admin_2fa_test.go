package main

import (
	"context"
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
)

var browser = auth.Client{IP: "192.0.2.1", Protocol: audit.HTTPS, UserAgent: "Mozilla/5.0 (test)"}

// TestTwoFactorCommands runs 'user 2fa', 'user session' and 'settings' against SQLite and
// PostgreSQL, with a web sign-in in between as the web interface will do it.
func TestTwoFactorCommands(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		c := newCLI(t, dsn)
		const pw = "correct horse battery staple"
		c.script([]step{
			{args: a("user", "add", "alice", "--password-stdin"), stdin: pw},
			{args: a("user", "2fa", "show", "alice"), out: a(`two-factor sign-in of "alice": off`)},
			{args: a("user", "2fa", "require", "alice", "on"), out: a(`now required of "alice"`, "it must be set up at the next web sign-in")},
			{args: a("user", "2fa", "show", "alice"), out: a("off; required of this user")},
		})

		core := c.core()
		web := auth.NewWeb(core.Auth, core.Keys, auth.DefaultSessionPolicy)
		secret, s, err := web.SignIn(ctx, "alice", pw, browser)
		if err != nil || s.State != auth.StateMustEnrol {
			t.Fatalf("sign-in when 2FA is required: %+v, %v", s, err)
		}
		e, err := web.BeginTOTP(ctx, secret, browser)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Key)
		secret, _, err = web.ConfirmTOTP(ctx, secret, auth.TOTPCode(key, time.Now()), browser)
		if err != nil {
			t.Fatal(err)
		}
		c.script([]step{
			{args: a("user", "show", "alice"), out: a("two-factor sign-in: on since", "(10 recovery codes left); required of this user", "web sessions: 1")},
			{args: a("user", "session", "list", "alice"), out: a("ID STATE METHOD", s.ID+" signed-in password+totp", "192.0.2.1 Mozilla/5.0 (test)")},
			{args: a("user", "2fa", "reset", "alice"), out: a(`reset two-factor sign-in of "alice"`, "next web sign-in sets it up again")},
			{args: a("user", "2fa", "show", "alice"), out: a("off; required of this user: it must be set up")},
			{args: a("user", "session", "list", "alice"), out: a("ID STATE")},
		})
		if _, err := web.Session(ctx, secret, browser); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("a session outlived 'user 2fa reset': %v", err)
		}

		c.script([]step{
			{args: a("user", "2fa", "require", "alice", "--off"), out: a(`no longer required of "alice"`, "now: off")},
			{args: a("user", "2fa", "require", "alice", "maybe"), code: exitUsage, errOut: a(`"maybe": give on or off`)},
			{args: a("user", "2fa", "require", "alice"), code: exitUsage, errOut: a("give exactly one of on and off")},
			{args: a("user", "2fa", "require", "alice", "on", "--off"), code: exitUsage, errOut: a("give exactly one of on and off")},
			{args: a("user", "2fa", "require", "nobody", "on"), code: exitFailure, errOut: a(`no user named "nobody"`)},
			{args: a("user", "2fa", "reset", "nobody"), code: exitFailure, errOut: a(`no user named "nobody"`)},
			{args: a("user", "2fa", "reset", "alice"), out: a(`"alice" had no two-factor sign-in`)},
			{args: a("settings", "show"), out: a("require-2fa: off")},
			{args: a("settings", "require-2fa", "on"), out: a("now required of every user")},
			{args: a("settings", "show"), out: a("require-2fa: on")},
			{args: a("user", "2fa", "show", "alice"), out: a("off; required of all users: it must be set up")},
			{args: a("settings", "require-2fa", "sometimes"), code: exitUsage, errOut: a("give on or off")},
		})
		if _, s, err := web.SignIn(ctx, "alice", pw, browser); err != nil || s.State != auth.StateMustEnrol {
			t.Fatalf("sign-in when 2FA is required of all: %+v, %v", s, err)
		}
		c.script([]step{{args: a("settings", "require-2fa", "--off"), out: a("no longer required of every user")}})

		// Ending one session by its id.
		secret, s, err = web.SignIn(ctx, "alice", pw, browser)
		if err != nil || s.State != auth.StateComplete {
			t.Fatalf("sign-in: %+v, %v", s, err)
		}
		c.script([]step{
			{args: a("user", "session", "end", s.ID), out: a("ended session " + s.ID)},
			{args: a("user", "session", "end", s.ID), code: exitFailure, errOut: a(`no session "` + s.ID + `"`)},
			{args: a("user", "session", "list", "nobody"), code: exitFailure, errOut: a(`no user named "nobody"`)},
		})
		if _, err := web.Session(ctx, secret, browser); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("a session outlived 'user session end': %v", err)
		}

		// Every change is audited, with the local administrator as the actor.
		for _, action := range []string{audit.Act2FARequire, audit.Act2FAReset, audit.ActSessionEnd} {
			recs, err := core.DB.Q().AuditQuery(ctx, db.AuditFilter{Action: action}, 100)
			if err != nil || len(recs) == 0 || !strings.HasPrefix(recs[0].Actor, "local:") {
				t.Errorf("%s records: %+v, %v", action, recs, err)
			}
		}
	})
}

func TestTwoFactorCommandsHelp(t *testing.T) {
	t.Parallel()
	c := &cli{t: t, dir: t.TempDir(), env: map[string]string{}}
	for _, args := range [][]string{
		a("user", "2fa", "--help"), a("user", "2fa", "show", "--help"), a("user", "2fa", "reset", "--help"),
		a("user", "2fa", "require", "--help"), a("user", "session", "--help"), a("user", "session", "list", "--help"),
		a("user", "session", "end", "--help"), a("settings", "--help"), a("settings", "show", "--help"),
		a("settings", "require-2fa", "--help"),
	} {
		code, stdout, stderr := c.run("", args...)
		want := "Usage: coffer " + strings.Join(args[:len(args)-1], " ")
		if code != exitOK || !strings.HasPrefix(stdout, want) || stderr != "" {
			t.Errorf("coffer %s: exit %d, stdout %q, stderr %q; want usage starting %q", strings.Join(args, " "), code, stdout, stderr, want)
		}
	}
	var out strings.Builder
	usage(&out)
	if !strings.Contains(out.String(), "settings ") {
		t.Errorf("coffer help does not list settings: %q", out.String())
	}
	code, stdout, _ := c.run("", "user", "--help")
	if code != exitOK || !strings.Contains(stdout, "2fa") || !strings.Contains(stdout, "session") {
		t.Errorf("coffer user --help does not list 2fa and session: %q", stdout)
	}
}
