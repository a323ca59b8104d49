package db

import (
	"context"
	"time"
)

// JobLease is the lease of a periodic job (docs/deploy.md, "Periodic jobs").
type JobLease struct {
	Name   string
	Holder string    // the node process holding it
	Until  time.Time // when it lapses unless renewed
	Ran    time.Time // when the job last finished a run; zero if never
}

const (
	// One statement takes a free or lapsed lease, or renews the caller's own: the row
	// lock (PostgreSQL) or the write lock (SQLite) makes it atomic between nodes.
	qTakeLease = `INSERT INTO job_leases (name, holder, until, ran) VALUES ($1, $2, $3, 0)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
		WHERE job_leases.holder = excluded.holder OR job_leases.until < $4`
	qLeaseRan     = `UPDATE job_leases SET ran = $3 WHERE name = $1 AND holder = $2`
	qReleaseLease = `UPDATE job_leases SET until = 0 WHERE name = $1 AND holder = $2`
	qJobLease     = `SELECT name, holder, until, ran FROM job_leases WHERE name = $1`
	qJobLeases    = `SELECT name, holder, until, ran FROM job_leases ORDER BY name`
)

// TakeLease takes the lease of job name for holder until until, when nobody holds it,
// its holder's lease lapsed before now, or holder already holds it (a renewal). ok
// reports whether holder holds it now.
func (q Q) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (ok bool, err error) {
	res, err := q.q.ExecContext(ctx, qTakeLease, name, holder, micro(until), micro(now))
	if err != nil {
		return false, q.d.classify(err)
	}
	n, err := res.RowsAffected()
	return n > 0, q.d.classify(err)
}

// LeaseRan records that holder finished a run of job name at at. Errors: NotFound when
// holder no longer holds the lease.
func (q Q) LeaseRan(ctx context.Context, name, holder string, at time.Time) error {
	return q.execOne(ctx, qLeaseRan, name, holder, micro(at))
}

// ReleaseLease gives up holder's lease of job name, so that another node may take it at
// once; it does nothing when holder does not hold it.
func (q Q) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := q.q.ExecContext(ctx, qReleaseLease, name, holder)
	return q.d.classify(err)
}

// JobLease returns the lease of job name. Errors: NotFound when no node ever took it.
func (q Q) JobLease(ctx context.Context, name string) (JobLease, error) {
	l, err := scanLease(q.q.QueryRowContext(ctx, qJobLease, name))
	return l, q.d.classify(err)
}

// JobLeases returns every job's lease, by name.
func (q Q) JobLeases(ctx context.Context) ([]JobLease, error) {
	rows, err := q.q.QueryContext(ctx, qJobLeases)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []JobLease
	for rows.Next() {
		l, err := scanLease(rows)
		if err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, l)
	}
	return out, q.d.classify(rows.Err())
}

func scanLease(s scanner) (JobLease, error) {
	var l JobLease
	var until, ran int64
	if err := s.Scan(&l.Name, &l.Holder, &until, &ran); err != nil {
		return JobLease{}, err
	}
	l.Until, l.Ran = fromMicro(until), fromMicro(ran)
	return l, nil
}

const qLockKEKChecksPG = `SELECT pg_advisory_xact_lock(7238412)`

// LockKEKChecks serialises nodes registering key-encryption keys until the transaction
// ends, so that two nodes starting on an empty database cannot each register a key of
// their own. In SQLite the transaction's write lock already does.
func (q Q) LockKEKChecks(ctx context.Context) error {
	if q.d.dialect != Postgres {
		return nil
	}
	_, err := q.q.ExecContext(ctx, qLockKEKChecksPG)
	return q.d.classify(err)
}
