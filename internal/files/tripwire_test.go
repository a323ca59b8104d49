package files_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

// recorder is a Notifier that keeps what it is told.
type recorder struct {
	mu     sync.Mutex
	alerts []db.Alert
}

func (r *recorder) Notify(_ context.Context, a db.Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, a)
	return nil
}

// tripwires wires a tripwire.Service with policy into f's Service, and returns it with
// the recorder of its notifications.
func (f *fixture) tripwires(policy tripwire.Policy) (*tripwire.Service, *recorder) {
	rec := &recorder{}
	t := tripwire.New(f.db, f.audit, slog.New(slog.DiscardHandler), policy, rec)
	f.svc.SetTripwires(t)
	return t, rec
}

// alerts returns the alerts raised so far, oldest first, after the notifications are out.
func (f *fixture) alerts(t *tripwire.Service, kind tripwire.Kind) []db.Alert {
	f.t.Helper()
	t.Wait()
	all, err := f.db.Q().ListAlerts(f.ctx, false, 0, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []db.Alert
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Kind == string(kind) {
			out = append(out, all[i])
		}
	}
	return out
}

// quiet is a policy whose only tripwires are those a test turns on.
func quiet() tripwire.Policy {
	return tripwire.Policy{OnLimit: tripwire.Alert, OnAnomaly: tripwire.Alert, OnCanary: tripwire.Alert, BaselineDays: 14, ThrottleRate: 1 << 20}
}

func TestTripwireCanary(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		trip, rec := f.tripwires(quiet())
		admin := accounts.LocalAdmin("test")
		alice := f.user("alice", 0)
		f.put(alice, "/work/report.csv", []byte("normal"))
		f.put(alice, "/work/passwords.xlsx", []byte("bait"))
		f.put(alice, "/other/x", []byte("x"))
		if err := f.svc.SetCanary(f.ctx, admin, files.Place{User: "alice", Path: "/work/passwords.xlsx"}, true); err != nil {
			t.Fatal(err)
		}
		if cs, err := f.svc.Canaries(f.ctx, admin); err != nil || len(cs) != 1 || cs[0].User != "alice" || cs[0].Path != "/work/passwords.xlsx" {
			t.Fatalf("Canaries = %+v, %v", cs, err)
		}
		// Normal use: other files, listings without canaries.
		f.get(alice, "/work/report.csv")
		if _, _, err := f.svc.List(f.ctx, alice, "/other", "", 0); err != nil {
			t.Fatal(err)
		}
		if got := f.alerts(trip, tripwire.Canary); len(got) != 0 {
			t.Fatalf("normal use raised %+v", got)
		}
		// A read fires, every time.
		f.get(alice, "/work/passwords.xlsx")
		f.get(alice, "/work/passwords.xlsx")
		got := f.alerts(trip, tripwire.Canary)
		if len(got) != 2 || got[0].Account != "alice" || got[0].Path != "/work/passwords.xlsx" || got[0].Action != "alert" {
			t.Fatalf("after two reads of the canary, alerts = %+v", got)
		}
		// A listing that shows it fires.
		if _, _, err := f.svc.List(f.ctx, alice, "/work", "", 0); err != nil {
			t.Fatal(err)
		}
		got = f.alerts(trip, tripwire.Canary)
		if len(got) != 3 || got[2].Path != "/work" {
			t.Fatalf("after a listing, alerts = %+v", got)
		}
		if len(rec.alerts) != 3 {
			t.Errorf("notified %d alerts, want 3", len(rec.alerts))
		}
		if r := f.lastRecord(audit.ActTripwireAlert, "/work"); r.Actor != "alice" || r.Target != "canary" {
			t.Errorf("audit record %+v", r)
		}
		// A marked directory fires when listed.
		if err := f.svc.SetCanary(f.ctx, admin, files.Place{User: "alice", Path: "/other"}, true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.List(f.ctx, alice, "/other", "", 0); err != nil {
			t.Fatal(err)
		}
		if got := f.alerts(trip, tripwire.Canary); len(got) != 4 {
			t.Fatalf("listing a canary directory: %d alerts, want 4", len(got))
		}
		// Unmarked, it is quiet again; only administrators mark.
		if err := f.svc.SetCanary(f.ctx, admin, files.Place{User: "alice", Path: "/work/passwords.xlsx"}, false); err != nil {
			t.Fatal(err)
		}
		f.get(alice, "/work/passwords.xlsx")
		if got := f.alerts(trip, tripwire.Canary); len(got) != 4 {
			t.Fatalf("an unmarked file still fires: %d alerts", len(got))
		}
		err := f.svc.SetCanary(f.ctx, alice, files.Place{User: "alice", Path: "/work/report.csv"}, true)
		wantKind(t, "SetCanary by a user", err, errs.Permission)
	})
}

func TestTripwireDecoy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		trip, _ := f.tripwires(quiet())
		admin := accounts.LocalAdmin("test")
		bob := f.user("bob", 0)
		fo := f.folder("finance", 0)
		f.grant(fo, bob, 0xff)
		if _, err := f.svc.CreateDecoy(f.ctx, admin, files.Place{Folder: "finance", Path: "/salaries-2026.xlsx"}, bytes.NewReader([]byte("decoy")), 5); err != nil {
			t.Fatal(err)
		}
		cs, err := f.svc.Canaries(f.ctx, admin)
		if err != nil || len(cs) != 1 || cs[0].Folder != "finance" || cs[0].Path != "/salaries-2026.xlsx" {
			t.Fatalf("Canaries = %+v, %v", cs, err)
		}
		if got := f.get(bob, "/finance/salaries-2026.xlsx"); string(got) != "decoy" {
			t.Fatalf("decoy reads %q", got)
		}
		if got := f.alerts(trip, tripwire.Canary); len(got) != 1 || got[0].Account != "bob" {
			t.Fatalf("alerts = %+v", got)
		}
	})
}

func TestTripwireVolumeSuspends(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		pol := quiet()
		pol.UserFilesPerHour, pol.OnLimit = 3, tripwire.Suspend
		trip, _ := f.tripwires(pol)
		alice := f.user("alice", 0)
		bob := f.user("bob", 0)
		for _, name := range []string{"/a", "/b", "/c", "/d"} {
			f.put(alice, name, []byte(name))
			f.put(bob, name, []byte(name))
		}
		for _, name := range []string{"/a", "/b", "/c"} {
			f.get(alice, name) // within the limit
		}
		if got := f.alerts(trip, tripwire.Volume); len(got) != 0 {
			t.Fatalf("within the limit: %+v", got)
		}
		_, err := f.svc.Open(f.ctx, alice, "/d")
		wantKind(t, "the download over the limit", err, errs.Unauthenticated)
		got := f.alerts(trip, tripwire.Volume)
		if len(got) != 1 || got[0].Account != "alice" || got[0].Action != "suspend" {
			t.Fatalf("alerts = %+v", got)
		}
		u, _ := f.db.Q().UserByName(f.ctx, "alice")
		if u.Suspended.IsZero() {
			t.Fatal("alice is not suspended")
		}
		if recs := f.records(audit.ActSuspend); len(recs) != 1 || recs[0].Actor != "alice" {
			t.Errorf("suspension records %+v", recs)
		}
		// Suspended: nothing works, not even a listing; others are untouched.
		_, _, err = f.svc.List(f.ctx, alice, "/", "", 0)
		wantKind(t, "a listing while suspended", err, errs.Unauthenticated)
		f.get(bob, "/a")
		// Lifted: she may go on today (the administrator judged it legitimate).
		if err := trip.Lift(f.ctx, alice, "alice"); !errs.Is(errs.Permission, err) {
			t.Errorf("Lift by the suspended user herself = %v, want Permission", err)
		}
		if err := trip.Lift(f.ctx, accounts.LocalAdmin("test"), "alice"); err != nil {
			t.Fatal(err)
		}
		f.get(alice, "/d")
		if got := f.alerts(trip, tripwire.Volume); len(got) != 1 {
			t.Errorf("after lifting, %d alerts, want still 1", len(got))
		}
	})
}

func TestTripwireAnomaly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		pol := quiet()
		pol.AnomalyFactor, pol.FloorFiles, pol.FloorBytes = 10, 2, 1<<30
		trip, _ := f.tripwires(pol)
		clock := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		trip.SetClock(func() time.Time { return clock })
		alice := f.user("alice", 0)
		f.put(alice, "/f", []byte("data"))
		// Fourteen days of 3 files a day: a baseline of 3, so up to 30 a day is normal.
		for day := 0; day < 14; day++ {
			for range 3 {
				f.get(alice, "/f")
			}
			clock = clock.Add(24 * time.Hour)
		}
		for range 30 {
			f.get(alice, "/f")
		}
		if got := f.alerts(trip, tripwire.Anomaly); len(got) != 0 {
			t.Fatalf("30 files on a day with a baseline of 3 raised %+v", got)
		}
		f.get(alice, "/f")
		got := f.alerts(trip, tripwire.Anomaly)
		if len(got) != 1 || got[0].Account != "alice" {
			t.Fatalf("31 files: alerts %+v", got)
		}
		f.get(alice, "/f") // one alert a day, not one a file
		if got := f.alerts(trip, tripwire.Anomaly); len(got) != 1 {
			t.Fatalf("32 files: %d alerts, want 1", len(got))
		}
		// A new account is not flagged on its first day: the floor is its baseline.
		bob := f.user("bob", 0)
		f.put(bob, "/f", []byte("data"))
		for range 20 {
			f.get(bob, "/f")
		}
		for _, a := range f.alerts(trip, tripwire.Anomaly) {
			if a.Account == "bob" {
				t.Fatalf("a new account's 20 files raised %+v", a)
			}
		}
	})
}

func TestTripwireThrottle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		pol := quiet()
		pol.UserBytesPerDay, pol.OnLimit, pol.ThrottleRate = 100<<10, tripwire.Throttle, 256<<10
		trip, _ := f.tripwires(pol)
		alice := f.user("alice", 0)
		data := randomBytes(128 << 10)
		f.put(alice, "/big", data)
		read := func() time.Duration {
			start := time.Now()
			if got := f.get(alice, "/big"); !bytes.Equal(got, data) {
				t.Fatal("the download's content differs")
			}
			return time.Since(start)
		}
		fast := read() // 128 KiB so far: the limit is not passed at its start
		slow := read() // starts over the limit: throttled to 256 KiB/s, so half a second
		if slow < 400*time.Millisecond {
			t.Errorf("throttled download took %v (unthrottled %v), want at least 0.4 s", slow, fast)
		}
		if got := f.alerts(trip, tripwire.Volume); len(got) != 1 || got[0].Action != "throttle" {
			t.Errorf("alerts %+v", got)
		}
	})
}
