package accounts_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

// TestTripwireWidening checks that each change that widens access raises one alert of
// its kind, and that the changes that do not, raise none.
func TestTripwireWidening(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := dbtest.Open(t, dsn)
		keys, _ := crypt.NewKeyring()
		l := audit.New(d, keys)
		if err := l.Init(ctx); err != nil {
			t.Fatal(err)
		}
		s := accounts.New(d, l, auth.New(d, l, auth.DefaultPolicy))
		trip := tripwire.New(d, l, slog.New(slog.DiscardHandler), tripwire.DefaultPolicy())
		s.SetTripwires(trip)
		root := accounts.LocalAdmin("test")
		count := func(kind tripwire.Kind) int {
			t.Helper()
			as, err := d.Q().ListAlerts(ctx, true, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, a := range as {
				if a.Kind == string(kind) {
					n++
				}
			}
			return n
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		type step struct {
			name string
			do   func() error
			kind tripwire.Kind
			want int // alerts of kind after the step
		}
		steps := []step{
			{"create a user", func() error { _, _, err := s.CreateUser(ctx, root, accounts.NewUser{Name: "alice"}); return err }, tripwire.Admin, 0},
			{"create an administrator", func() error {
				_, _, err := s.CreateUser(ctx, root, accounts.NewUser{Name: "boss", Admin: true})
				return err
			}, tripwire.Admin, 1},
			{"promote a user", func() error {
				yes := true
				_, err := s.UpdateUser(ctx, root, "alice", accounts.UserUpdate{Admin: &yes})
				return err
			}, tripwire.Admin, 2},
			{"change an administrator's quota", func() error {
				q := int64(5)
				_, err := s.UpdateUser(ctx, root, "alice", accounts.UserUpdate{Quota: &q})
				return err
			}, tripwire.Admin, 2},
			{"create a user for the token steps", func() error { _, _, err := s.CreateUser(ctx, root, accounts.NewUser{Name: "carol"}); return err }, tripwire.Token, 0},
			{"token for a user", func() error { _, _, err := s.CreateToken(ctx, root, "carol", "", time.Hour); return err }, tripwire.Token, 0},
			{"token for an administrator", func() error { _, _, err := s.CreateToken(ctx, root, "boss", "", time.Hour); return err }, tripwire.Token, 1},
			{"create a folder and group", func() error {
				if _, err := s.CreateFolder(ctx, root, "finance", 0); err != nil {
					return err
				}
				if _, err := s.CreateGroup(ctx, root, "staff"); err != nil {
					return err
				}
				return s.SetMember(ctx, root, "staff", "carol", true) // no grants yet
			}, tripwire.Grant, 0},
			{"new grant", func() error { return s.Grant(ctx, root, "finance", accounts.Grantee{User: "carol"}, authz.List) }, tripwire.Grant, 1},
			{"added permission", func() error {
				return s.Grant(ctx, root, "finance", accounts.Grantee{User: "carol"}, authz.List|authz.Read)
			}, tripwire.Grant, 2},
			{"narrowed grant", func() error { return s.Grant(ctx, root, "finance", accounts.Grantee{User: "carol"}, authz.Read) }, tripwire.Grant, 2},
			{"group grant", func() error { return s.Grant(ctx, root, "finance", accounts.Grantee{Group: "staff"}, authz.Read) }, tripwire.Grant, 3},
			{"member of a group with grants", func() error { return s.SetMember(ctx, root, "staff", "alice", true) }, tripwire.Grant, 4},
			{"member removed", func() error { return s.SetMember(ctx, root, "staff", "alice", false) }, tripwire.Grant, 4},
			{"grant revoked", func() error { return s.Grant(ctx, root, "finance", accounts.Grantee{User: "carol"}, 0) }, tripwire.Grant, 4},
		}
		for _, st := range steps {
			must(st.do())
			if got := count(st.kind); got != st.want {
				t.Fatalf("after %q: %d %s alerts, want %d", st.name, got, st.kind, st.want)
			}
		}
		recs, err := d.Q().AuditQuery(ctx, db.AuditFilter{Action: audit.ActTripwireAlert}, 100)
		if err != nil || len(recs) != 2+1+4 {
			t.Fatalf("%d tripwire audit records (%v), want 7", len(recs), err)
		}
	})
}
