package db_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
)

func TestJobLeases(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		q := dbtest.Open(t, dsn).Q()
		now := time.Unix(1_800_000_000, 0)
		take := func(holder string, at time.Time, want bool) {
			t.Helper()
			ok, err := q.TakeLease(ctx, "gc", holder, at, at.Add(time.Minute))
			if err != nil || ok != want {
				t.Fatalf("TakeLease(%s at %s) = %v, %v; want %v", holder, at.Format(time.TimeOnly), ok, err, want)
			}
		}
		if _, err := q.JobLease(ctx, "gc"); !errs.Is(errs.NotFound, err) {
			t.Fatalf("JobLease before any take: %v, want NotFound", err)
		}
		take("a", now, true)
		take("b", now.Add(30*time.Second), false)                                 // a holds it
		take("a", now.Add(30*time.Second), true)                                  // a renews: until now+90s
		take("b", now.Add(80*time.Second), false)                                 // still a's
		if err := q.LeaseRan(ctx, "gc", "b", now); !errs.Is(errs.NotFound, err) { // b does not hold it
			t.Fatalf("LeaseRan by a non-holder: %v, want NotFound", err)
		}
		if err := q.LeaseRan(ctx, "gc", "a", now.Add(40*time.Second)); err != nil {
			t.Fatal(err)
		}
		take("b", now.Add(91*time.Second), true) // a's lease lapsed: a died
		l, err := q.JobLease(ctx, "gc")
		if err != nil || l.Holder != "b" || !l.Until.Equal(now.Add(151*time.Second)) || !l.Ran.Equal(now.Add(40*time.Second)) {
			t.Fatalf("JobLease = %+v, %v; want b's, until +151s, ran +40s kept", l, err)
		}
		if err := q.ReleaseLease(ctx, "gc", "a"); err != nil { // not a's: nothing happens
			t.Fatal(err)
		}
		take("c", now.Add(100*time.Second), false)
		if err := q.ReleaseLease(ctx, "gc", "b"); err != nil {
			t.Fatal(err)
		}
		take("c", now.Add(100*time.Second), true) // released: free at once
		ls, err := q.JobLeases(ctx)
		if err != nil || len(ls) != 1 || ls[0].Holder != "c" {
			t.Fatalf("JobLeases = %+v, %v", ls, err)
		}
	})
}

// Nodes racing for a free lease: exactly one wins, on every dialect.
func TestJobLeaseRace(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		dbtest.Open(t, dsn) // migrated
		now := time.Now()
		for round := range 5 {
			name := fmt.Sprintf("job-%d", round)
			var wg sync.WaitGroup
			wins := make(chan string, 8)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d, err := db.Open(ctx, dsn) // a node of its own
					if err != nil {
						t.Error(err)
						return
					}
					defer d.Close()
					holder := fmt.Sprintf("node-%d", i)
					ok, err := d.Q().TakeLease(ctx, name, holder, now, now.Add(time.Minute))
					if err != nil {
						t.Error(err)
					}
					if ok {
						wins <- holder
					}
				}()
			}
			wg.Wait()
			close(wins)
			var got []string
			for w := range wins {
				got = append(got, w)
			}
			if len(got) != 1 {
				t.Fatalf("round %d: %d nodes took the lease (%v), want exactly 1", round, len(got), got)
			}
		}
	})
}
