// Package jobs runs periodic jobs (expiry, clean-up, retries) so that, of all the nodes
// sharing one database, exactly one runs each job at a time, and another takes over when
// that node dies (docs/deploy.md, "Periodic jobs").
//
// Each job has a lease in the database (db.TakeLease). A node that holds it renews it
// every third of the lease time, runs the job when it is due (Every after its last run on
// any node), and releases it when it stops. A node that dies stops renewing; the lease
// lapses after at most Lease, and the next node to try, at most Lease/3 later, takes it.
// A node that cannot renew while a run is in progress (it lost the database, or its lease
// was taken after a long pause) cancels the run's context. Jobs must still be idempotent:
// a node paused for longer than the lease (a frozen VM) may finish a step after another
// node took over.
//
// Clocks: lease times are the nodes' clocks, so they must agree (NTP) to well within the
// lease time.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
)

// Job is a periodic task.
type Job struct {
	Name  string        // unique among jobs; names its lease
	Every time.Duration // how often it runs, cluster-wide
	// Run does one run. It should return soon after ctx ends. It logs what it did; an
	// error is logged by the Runner and the job runs again at its next time.
	Run func(ctx context.Context) error
}

// DefaultLease is how long a node holds a job's lease without renewing it.
const DefaultLease = time.Minute

// Runner runs jobs on one node.
type Runner struct {
	db     *db.DB
	holder string
	lease  time.Duration
	log    *slog.Logger
	now    func() time.Time
}

// New returns a Runner for the node called node (a host name; a random suffix tells
// this process from another of the same name). lease <= 0 means DefaultLease.
func New(d *db.DB, node string, lease time.Duration, log *slog.Logger) *Runner {
	if lease <= 0 {
		lease = DefaultLease
	}
	var b [4]byte
	rand.Read(b[:])
	return &Runner{db: d, holder: node + "#" + hex.EncodeToString(b[:]), lease: lease, log: log, now: time.Now}
}

// Holder is how this node's leases are named in the database.
func (r *Runner) Holder() string { return r.holder }

// Run runs jobs until ctx ends, then releases their leases.
func (r *Runner) Run(ctx context.Context, jobs []Job) {
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, j)
		}()
	}
	wg.Wait()
}

func (r *Runner) loop(ctx context.Context, j Job) {
	log := r.log.With("job", j.Name)
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := r.db.Q().ReleaseLease(rctx, j.Name, r.holder); err != nil {
			log.Warn("cannot release the job's lease; another node takes it when it lapses", "err", err)
		}
	}()
	tick := min(r.lease/3, j.Every)
	t := time.NewTimer(0)
	defer t.Stop()
	held := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		wait := tick
		st, err := r.take(ctx, j)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			log.Warn("cannot take or renew the job's lease", "err", err)
		case st.held != held:
			log.Debug("job lease", "held", st.held, "holder", r.holder)
			held = st.held
		}
		if st.run {
			r.runOnce(ctx, j, log)
		}
		if !st.held && !st.until.IsZero() {
			// Try again just after another node's lease lapses, so that a job
			// moves within one lease time of its node's death.
			wait = min(wait, max(st.until.Sub(r.now())+10*time.Millisecond, 10*time.Millisecond))
		}
		t.Reset(wait)
	}
}

// state is what take found.
type state struct {
	held  bool      // this node holds the lease
	run   bool      // and the job is due
	until time.Time // when another node's lease lapses
}

// take takes or renews j's lease and reports whether this node holds it and j is due.
func (r *Runner) take(ctx context.Context, j Job) (state, error) {
	q := r.db.Q()
	now := r.now()
	ok, err := q.TakeLease(ctx, j.Name, r.holder, now, now.Add(r.lease))
	if err != nil {
		return state{}, err
	}
	l, err := q.JobLease(ctx, j.Name)
	if err != nil {
		return state{held: ok}, err
	}
	if !ok || l.Holder != r.holder {
		return state{until: l.Until}, nil
	}
	return state{held: true, run: !now.Before(l.Ran.Add(j.Every))}, nil
}

// runOnce runs j, renewing its lease meanwhile; the run's context ends if the lease is lost.
func (r *Runner) runOnce(ctx context.Context, j Job, log *slog.Logger) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		r.renew(rctx, j, cancel, log)
	}()
	start := r.now()
	err := j.Run(rctx)
	cancel()
	<-renewed
	if err != nil {
		log.Warn("job failed; it runs again at its next time", "err", err, "took", r.now().Sub(start))
		// It counts as a run: a job that fails at once must not be retried in a loop.
	}
	if err := r.db.Q().LeaseRan(context.WithoutCancel(ctx), j.Name, r.holder, r.now()); err != nil {
		log.Warn("cannot record the job's run", "err", err)
	}
}

// renew keeps j's lease while its run lasts, and cancels the run when the lease is lost:
// taken by another node, or not renewed for a whole lease time.
func (r *Runner) renew(ctx context.Context, j Job, cancel func(), log *slog.Logger) {
	t := time.NewTicker(r.lease / 3)
	defer t.Stop()
	last := r.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := r.now()
		ok, err := r.db.Q().TakeLease(ctx, j.Name, r.holder, now, now.Add(r.lease))
		switch {
		case err == nil && ok:
			last = now
			continue
		case err == nil:
			log.Warn("another node took the job's lease during a run: stopping the run")
		case now.Sub(last) < r.lease:
			log.Warn("cannot renew the job's lease during a run", "err", err)
			continue
		default:
			log.Warn("cannot renew the job's lease for a whole lease time: stopping the run", "err", err)
		}
		cancel()
		return
	}
}
