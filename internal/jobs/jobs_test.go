package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/jobs"
)

// node is a Runner with a database connection of its own, as a node has.
type node struct {
	r    *jobs.Runner
	db   *db.DB
	stop context.CancelFunc
	done chan struct{}
}

func startNode(t *testing.T, dsn, name string, lease time.Duration, js []jobs.Job) *node {
	t.Helper()
	d, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{r: jobs.New(d, name, lease, slog.New(slog.NewTextHandler(io.Discard, nil))), db: d, stop: cancel, done: make(chan struct{})}
	go func() { defer close(n.done); n.r.Run(ctx, js) }()
	t.Cleanup(func() { n.kill() })
	return n
}

// kill stops the node as SIGKILL would: its connection goes first, so it cannot
// release its leases.
func (n *node) kill() {
	n.db.Close()
	n.stop()
	<-n.done
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not after %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func TestOneNodeAtATimeAndTakeover(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		q := dbtest.Open(t, dsn).Q()
		const lease = 900 * time.Millisecond
		var running, overlaps atomic.Int32
		var mu sync.Mutex
		ranOn := map[string]int{}
		job := func(name string) jobs.Job {
			return jobs.Job{Name: "sweep", Every: 50 * time.Millisecond, Run: func(ctx context.Context) error {
				if running.Add(1) > 1 {
					overlaps.Add(1)
				}
				defer running.Add(-1)
				mu.Lock()
				ranOn[name]++
				mu.Unlock()
				select { // a run that takes a while
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
				return nil
			}}
		}
		nodes := map[string]*node{}
		for _, name := range []string{"n1", "n2", "n3"} {
			nodes[name] = startNode(t, dsn, name, lease, []jobs.Job{job(name)})
		}
		holder := func() string {
			l, err := q.JobLease(context.Background(), "sweep")
			if err != nil {
				return ""
			}
			for name, n := range nodes {
				if n.r.Holder() == l.Holder && l.Until.After(time.Now()) {
					return name
				}
			}
			return ""
		}
		runs := func(name string) int { mu.Lock(); defer mu.Unlock(); return ranOn[name] }
		waitFor(t, 10*time.Second, "a node holds the lease and ran the job twice", func() bool {
			h := holder()
			return h != "" && runs(h) >= 2
		})
		first := holder()
		for name := range nodes {
			if name != first && runs(name) > 0 {
				t.Errorf("node %s ran the job while %s held the lease", name, first)
			}
		}
		nodes[first].kill()
		took := waitFor(t, lease+3*time.Second, "another node takes the lease", func() bool {
			h := holder()
			return h != "" && h != first
		})
		second := holder()
		t.Logf("lease moved from %s to %s %s after the kill (lease %s)", first, second, took.Round(time.Millisecond), lease)
		before := runs(second)
		waitFor(t, 10*time.Second, "the new holder runs the job", func() bool { return runs(second) > before })
		if n := overlaps.Load(); n != 0 {
			t.Errorf("%d runs overlapped another", n)
		}
	})
}

// A node that stops normally releases its leases at once.
func TestStopReleases(t *testing.T) {
	dsn := dbtest.SQLiteDSN(t)
	q := dbtest.Open(t, dsn).Q()
	started := make(chan struct{}, 1)
	n := startNode(t, dsn, "n1", time.Hour, []jobs.Job{{Name: "j", Every: time.Hour, Run: func(context.Context) error {
		started <- struct{}{}
		return nil
	}}})
	<-started
	n.stop()
	<-n.done
	ok, err := q.TakeLease(context.Background(), "j", "other", time.Now(), time.Now().Add(time.Minute))
	if err != nil || !ok {
		t.Fatalf("after a normal stop another node cannot take the lease: %v, %v", ok, err)
	}
}

// A run whose lease another node took is canceled; a failed run counts as a run.
func TestLostLeaseCancelsRun(t *testing.T) {
	dsn := dbtest.SQLiteDSN(t)
	q := dbtest.Open(t, dsn).Q()
	started, ended := make(chan struct{}), make(chan error, 1)
	var calls atomic.Int32
	startNode(t, dsn, "n1", 300*time.Millisecond, []jobs.Job{{Name: "j", Every: time.Hour, Run: func(ctx context.Context) error {
		if calls.Add(1) > 1 {
			return nil
		}
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return errors.New("interrupted")
	}}})
	<-started
	// Another node takes the lease as if it had lapsed (its clock is an hour ahead).
	later := time.Now().Add(time.Hour)
	if ok, err := q.TakeLease(context.Background(), "j", "thief", later, later.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("TakeLease: %v, %v", ok, err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("run ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the run went on after its lease was taken")
	}
	if calls.Load() != 1 {
		t.Fatalf("job ran %d times", calls.Load())
	}
}
