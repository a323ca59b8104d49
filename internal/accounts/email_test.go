package accounts_test

import (
	"context"
	"testing"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
)

// TestNotificationEmail: an administrator sets and clears a user's notification
// address; anything but one bare address is refused; users cannot set it themselves.
func TestNotificationEmail(t *testing.T) {
	ctx := context.Background()
	s, d := setup(t, dbtest.SQLiteDSN(t))
	root := accounts.LocalAdmin("test")
	alice, _, err := s.CreateUser(ctx, root, accounts.NewUser{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	email := func() string {
		e, err := d.Q().UserEmail(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	set := func(p auth.Principal, v string) error {
		_, err := s.UpdateUser(ctx, p, "alice", accounts.UserUpdate{Email: &v})
		return err
	}
	if err := set(root, "alice@example.org"); err != nil || email() != "alice@example.org" {
		t.Fatalf("%v, %q", err, email())
	}
	for _, bad := range []string{"alice", "Alice <alice@example.org>", "alice@example.org\r\nBcc: eve@example.org", "a@example.org, b@example.org"} {
		if err := set(root, bad); !errs.Is(errs.Invalid, err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	asAlice := auth.Principal{UserID: alice.ID, Name: "alice", Protocol: audit.HTTPS}
	if err := set(asAlice, "eve@example.org"); !errs.Is(errs.Permission, err) {
		t.Errorf("alice set her own address: %v", err)
	}
	if email() != "alice@example.org" {
		t.Fatalf("a refused change changed the address to %q", email())
	}
	if err := set(root, ""); err != nil || email() != "" {
		t.Fatalf("clearing: %v, %q", err, email())
	}
	recs, _ := d.Q().AuditQuery(ctx, db.AuditFilter{Action: audit.ActUserUpdate}, 10)
	if len(recs) == 0 || recs[0].Detail != `email=""` {
		t.Fatalf("audit: %+v", recs)
	}
}
