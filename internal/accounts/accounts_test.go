package accounts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
)

func setup(t *testing.T, dsn string) (*accounts.Service, *db.DB) {
	t.Helper()
	d := dbtest.Open(t, dsn)
	keys, _ := crypt.NewKeyring()
	l := audit.New(d, keys)
	if err := l.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return accounts.New(d, l, auth.New(d, l, auth.DefaultPolicy)), d
}

func TestAccounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, d := setup(t, dsn)
		root := accounts.LocalAdmin("test")
		admin, _, err := s.CreateUser(ctx, root, accounts.NewUser{Name: "admin", Admin: true})
		if err != nil {
			t.Fatal(err)
		}
		alice, pw, err := s.CreateUser(ctx, root, accounts.NewUser{Name: "alice"})
		if err != nil || len(pw) < 20 {
			t.Fatalf("generated password %q: %v", pw, err)
		}
		asAlice := auth.Principal{UserID: alice.ID, Name: "alice", Protocol: audit.HTTPS, SourceIP: "192.0.2.1"}
		asAdmin := auth.Principal{UserID: admin.ID, Name: "admin", Admin: true, Protocol: audit.HTTPS}

		// Token creation is audited with the token's id.
		_, tok, err := s.CreateToken(ctx, asAlice, "alice", "cron", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		recs, _ := d.Q().AuditQuery(ctx, db.AuditFilter{Action: audit.ActTokenCreate}, 10)
		if len(recs) != 1 || !strings.Contains(recs[0].Detail, tok.ID) {
			t.Fatalf("token.create record lacks the token id: %+v", recs)
		}
		// A user may not make tokens for others, nor manage accounts; refusals are audited.
		if _, _, err := s.CreateToken(ctx, asAlice, "admin", "", time.Hour); !errs.Is(errs.Permission, err) {
			t.Fatalf("alice made a token for admin: %v", err)
		}
		if _, _, err := s.CreateUser(ctx, asAlice, accounts.NewUser{Name: "mallory", Admin: true}); !errs.Is(errs.Permission, err) {
			t.Fatalf("alice created a user: %v", err)
		}
		recs, _ = d.Q().AuditQuery(ctx, db.AuditFilter{Actor: "alice"}, 10)
		denied := 0
		for _, r := range recs {
			if r.Result == audit.Denied {
				denied++
			}
		}
		if denied != 2 {
			t.Fatalf("denials audited: %d, want 2", denied)
		}
		// A user may change their own password (ChangeOwnPassword), but not through
		// UpdateUser, which an API token reaches, and not anyone else's.
		newPw := "a much better passphrase 42"
		if _, err := s.UpdateUser(ctx, asAlice, "alice", accounts.UserUpdate{Password: &newPw}); !errs.Is(errs.Permission, err) {
			t.Fatalf("alice changed her password through UpdateUser: %v", err)
		}
		if err := s.ChangeOwnPassword(ctx, asAlice, newPw); err != nil {
			t.Fatalf("alice changing her own password: %v", err)
		}
		if err := s.ChangeOwnPassword(ctx, asAlice, "short"); !errs.Is(errs.Invalid, err) {
			t.Fatalf("a weak new password: %v", err)
		}
		if recs, _ := d.Q().AuditQuery(ctx, db.AuditFilter{Actor: "alice", Action: audit.ActUserPassword}, 10); len(recs) < 2 || recs[len(recs)-1].Result != audit.Denied {
			t.Fatalf("password changes audited as %+v", recs)
		}
		// The last enabled administrator can be neither disabled nor demoted.
		yes, no := true, false
		if _, err := s.UpdateUser(ctx, asAdmin, "admin", accounts.UserUpdate{Disabled: &yes}); !errs.Is(errs.Conflict, err) {
			t.Fatalf("disabled the last admin: %v", err)
		}
		if _, err := s.UpdateUser(ctx, asAdmin, "admin", accounts.UserUpdate{Admin: &no}); !errs.Is(errs.Conflict, err) {
			t.Fatalf("demoted the last admin: %v", err)
		}
		if _, err := s.UpdateUser(ctx, asAdmin, "alice", accounts.UserUpdate{Admin: &yes}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateUser(ctx, asAdmin, "admin", accounts.UserUpdate{Admin: &no}); err != nil {
			t.Fatalf("demoting one of two admins: %v", err)
		}
		// Grants and names.
		if _, err := s.CreateFolder(ctx, asAdmin, "Lab Results", 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Grant(ctx, asAdmin, "Lab Results", accounts.Grantee{User: "alice"}, authz.List|authz.Read); err != nil {
			t.Fatal(err)
		}
		if err := s.Grant(ctx, asAdmin, "Lab Results", accounts.Grantee{User: "alice", Group: "x"}, authz.List); !errs.Is(errs.Invalid, err) {
			t.Fatalf("grant to user and group at once: %v", err)
		}
		if err := s.Grant(ctx, asAdmin, "Lab Results", accounts.Grantee{User: "nobody"}, authz.List); !errs.Is(errs.NotFound, err) {
			t.Fatalf("grant to a missing user: %v", err)
		}
	})
}

func TestNames(t *testing.T) {
	ctx := context.Background()
	s, _ := setup(t, dbtest.SQLiteDSN(t))
	root := accounts.LocalAdmin("test")
	for _, bad := range []string{"", "Alice", "-x", "a b", "a/b", "..", strings.Repeat("a", 129), "a\x00", "<script>"} {
		if _, _, err := s.CreateUser(ctx, root, accounts.NewUser{Name: bad}); !errs.Is(errs.Invalid, err) {
			t.Errorf("user name %q: %v", bad, err)
		}
	}
	for _, good := range []string{"a", "alice.smith", "partner@example.com", "x_1-2+3"} {
		if _, _, err := s.CreateUser(ctx, root, accounts.NewUser{Name: good}); err != nil {
			t.Errorf("user name %q: %v", good, err)
		}
	}
	for _, bad := range []string{"", " x", "x ", "a/b", "..", ".", "a\\b", strings.Repeat("f", 65)} {
		if _, err := s.CreateFolder(ctx, root, bad, 0); !errs.Is(errs.Invalid, err) {
			t.Errorf("folder name %q: %v", bad, err)
		}
	}
	if _, _, err := s.CreateUser(ctx, root, accounts.NewUser{Name: "weak", Password: "short"}); !errs.Is(errs.Invalid, err) {
		t.Errorf("weak password accepted: %v", err)
	}
}
