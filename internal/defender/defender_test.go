package defender_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/errs"
)

type fixture struct {
	s   *defender.Service
	d   *db.DB
	now time.Time
}

func setup(t *testing.T, dsn string, p defender.Policy) *fixture {
	t.Helper()
	d := dbtest.Open(t, dsn)
	keys, _ := crypt.NewKeyring()
	l := audit.New(d, keys)
	if err := l.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := &fixture{s: defender.New(d, l, p), d: d, now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	f.s.SetClock(func() time.Time { return f.now })
	return f
}

func (f *fixture) record(t *testing.T, k defender.Kind, ip string, n int) {
	t.Helper()
	for range n {
		if err := f.s.Record(context.Background(), defender.Event{Kind: k, IP: ip, Protocol: audit.HTTPS}); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) banned(t *testing.T, ip string) bool {
	t.Helper()
	err := f.s.Check(context.Background(), ip)
	if err != nil && !errs.Is(errs.Locked, err) {
		t.Fatal(err)
	}
	return err != nil
}

func (f *fixture) audited(t *testing.T, action string) []db.AuditRecord {
	t.Helper()
	recs, err := f.d.Q().AuditQuery(context.Background(), db.AuditFilter{Action: action}, 100)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestBanBackoffLift: the threshold bans, not one point before; each later ban lasts
// twice as long up to the cap; lifting ends a ban at once and forgets its strikes; the
// window forgets old events.
func TestBanBackoffLift(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		p := defender.DefaultPolicy()
		p.BanFor, p.MaxBan = time.Minute, 5*time.Minute
		f := setup(t, dsn, p)
		const ip = "192.0.2.9"
		f.record(t, defender.LoginFailed, ip, p.Threshold-1)
		if f.banned(t, ip) {
			t.Fatal("banned below the threshold")
		}
		// Events older than the window do not count.
		f.now = f.now.Add(p.Window + time.Second)
		f.record(t, defender.LoginFailed, ip, 1)
		if f.banned(t, ip) {
			t.Fatal("events outside the window counted")
		}
		// Strikes: 1, 2, 4, then the 5-minute cap twice.
		for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
			f.record(t, defender.UnknownUser, ip, p.Threshold/p.Weights[defender.UnknownUser])
			if !f.banned(t, ip) {
				t.Fatalf("ban %d: not banned at the threshold", i+1)
			}
			err := f.s.Check(ctx, ip)
			if !strings.Contains(errs.Detail(err), "banned until") || !strings.Contains(errs.Detail(err), ip) {
				t.Errorf("the refusal does not say who and until when: %q", errs.Detail(err))
			}
			f.now = f.now.Add(want - time.Second)
			if !f.banned(t, ip) {
				t.Fatalf("ban %d ended before %s", i+1, want)
			}
			f.now = f.now.Add(time.Second)
			if f.banned(t, ip) {
				t.Fatalf("ban %d lasts longer than %s", i+1, want)
			}
		}
		if n := len(f.audited(t, audit.ActBan)); n != 5 {
			t.Errorf("%d ban records, want 5", n)
		}
		// Another address is not affected by all this.
		if f.banned(t, "192.0.2.10") {
			t.Fatal("an innocent address is banned")
		}

		// Lift: ends the ban now, and the next ban starts again at the first length.
		f.record(t, defender.PathAttack, ip, p.Threshold/p.Weights[defender.PathAttack])
		bans, err := f.s.Bans(ctx, 10)
		if err != nil || len(bans) != 1 || bans[0].IP != ip || bans[0].Strikes != 6 {
			t.Fatalf("bans: %+v %v", bans, err)
		}
		if err := f.s.Lift(ctx, "admin", "local", audit.CLI, ip); err != nil {
			t.Fatal(err)
		}
		if f.banned(t, ip) {
			t.Fatal("still banned after the lift")
		}
		if err := f.s.Lift(ctx, "admin", "local", audit.CLI, ip); !errs.Is(errs.NotFound, err) {
			t.Errorf("lifting again: %v, want NotFound", err)
		}
		if recs := f.audited(t, audit.ActUnban); len(recs) != 1 || recs[0].Path != "ip:"+ip || recs[0].Actor != "admin" {
			t.Errorf("unban records: %+v", recs)
		}
		f.record(t, defender.PathAttack, ip, p.Threshold/p.Weights[defender.PathAttack])
		f.now = f.now.Add(time.Minute)
		if f.banned(t, ip) {
			t.Fatal("the ban after a lift is longer than the first length")
		}
	})
}

func TestLists(t *testing.T) {
	p := defender.DefaultPolicy()
	var err error
	if p.Allow, err = defender.ParseList("10.0.0.0/8, 2001:db8::/32"); err != nil {
		t.Fatal(err)
	}
	if p.Deny, err = defender.ParseList("10.1.2.3"); err != nil {
		t.Fatal(err)
	}
	p.Exempt = []netip.Prefix{netip.MustParsePrefix("10.9.9.9/32")}
	f := setup(t, dbtest.SQLiteDSN(t), p)
	for ip, want := range map[string]bool{
		"10.0.0.1": false, "::ffff:10.0.0.1": false, "2001:db8::1": false,
		"10.1.2.3": true, "192.0.2.1": true, "2001:db9::1": true, "not-an-ip": true,
	} {
		if got := f.banned(t, ip); got != want {
			t.Errorf("%s refused = %v, want %v", ip, got, want)
		}
	}
	// A balancer's own address is never scored.
	f.record(t, defender.SSHHandshake, "10.9.9.9", p.Threshold)
	if f.banned(t, "10.9.9.9") {
		t.Error("an exempt address was banned")
	}
	if _, err := defender.ParseList("10.0.0.0/33"); err == nil {
		t.Error("a bad prefix was accepted")
	}
}
