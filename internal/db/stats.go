package db

import (
	"context"
	"time"
)

// ActionCount is how many audit records of one action and result there are in a
// period, and the bytes they moved.
type ActionCount struct {
	Action, Result string
	Count, Bytes   int64
}

// Totals are the sizes of what the server holds now.
type Totals struct {
	Users, DisabledUsers int64
	Folders              int64 // home and shared folders
	Files                int64 // parcels' files included
	StoredBytes          int64 // plaintext bytes charged to folders (partial uploads and parcels included)
	LiveWebSessions      int64
	PartialUploads       int64
}

const (
	qAuditActionCounts = `SELECT action, result, COUNT(*), COALESCE(SUM(bytes), 0) FROM audit_log WHERE at >= $1 GROUP BY action, result ORDER BY action, result`
	qUserTotals        = `SELECT COUNT(*), COALESCE(SUM(disabled), 0) FROM users`
	// Folders counts home and shared folders, not the parcels' (no name and no owner);
	// the bytes are everyone's.
	qFolderTotals     = `SELECT COALESCE(SUM(CASE WHEN name IS NOT NULL OR owner_id IS NOT NULL THEN 1 ELSE 0 END), 0), COALESCE(SUM(used_bytes), 0) FROM folders`
	qFileTotal        = `SELECT COUNT(*) FROM entries WHERE is_dir = 0`
	qLiveSessionTotal = `SELECT COUNT(*) FROM web_sessions WHERE state = 'ok' AND expires > $1 AND last_seen + idle_timeout > $1`
	qUploadTotal      = `SELECT COUNT(*) FROM uploads`
)

// AuditActionCounts counts the audit records since a time by action and result.
func (q Q) AuditActionCounts(ctx context.Context, since time.Time) ([]ActionCount, error) {
	rows, err := q.q.QueryContext(ctx, qAuditActionCounts, micro(since))
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []ActionCount
	for rows.Next() {
		var c ActionCount
		if err := rows.Scan(&c.Action, &c.Result, &c.Count, &c.Bytes); err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, c)
	}
	return out, q.d.classify(rows.Err())
}

// Totals counts users, folders, files, stored bytes, live web sessions and partial
// uploads at now. The counts are read one after the other, not as one snapshot.
func (q Q) Totals(ctx context.Context, now time.Time) (Totals, error) {
	var t Totals
	err := q.q.QueryRowContext(ctx, qUserTotals).Scan(&t.Users, &t.DisabledUsers)
	if err == nil {
		err = q.q.QueryRowContext(ctx, qFolderTotals).Scan(&t.Folders, &t.StoredBytes)
	}
	if err == nil {
		err = q.q.QueryRowContext(ctx, qFileTotal).Scan(&t.Files)
	}
	if err == nil {
		err = q.q.QueryRowContext(ctx, qLiveSessionTotal, micro(now)).Scan(&t.LiveWebSessions)
	}
	if err == nil {
		err = q.q.QueryRowContext(ctx, qUploadTotal).Scan(&t.PartialUploads)
	}
	return t, q.d.classify(err)
}
