package db

import (
	"context"
	"time"
)

// Queries of the exfiltration tripwires (docs/tripwires.md).
const (
	qSetSuspended  = `UPDATE users SET suspended = $2, updated = $3 WHERE id = $1`
	qAddDownload   = `INSERT INTO download_counts (user_id, hour, files, bytes) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, hour) DO UPDATE SET files = download_counts.files + excluded.files, bytes = download_counts.bytes + excluded.bytes`
	qDownloadSums  = `SELECT COALESCE(SUM(files), 0), COALESCE(SUM(bytes), 0) FROM download_counts WHERE user_id = $1 AND hour >= $2 AND hour < $3`
	qPruneCounts   = `DELETE FROM download_counts WHERE hour < $1`
	qInsertCanary  = `INSERT INTO canaries (entry_id, created, created_by) VALUES ($1, $2, $3) ON CONFLICT (entry_id) DO NOTHING`
	qDeleteCanary  = `DELETE FROM canaries WHERE entry_id = $1`
	qIsCanary      = `SELECT COUNT(*) FROM canaries WHERE entry_id = $1`
	qCanariesUnder = `SELECT e.name FROM canaries c JOIN entries e ON e.id = c.entry_id WHERE e.folder_id = $1 AND e.parent_id = $2 ORDER BY e.name`
	qListCanaries  = `SELECT c.entry_id, COALESCE(f.name, ''), COALESCE(u.name, ''), e.name, e.is_dir, c.created, c.created_by FROM canaries c JOIN entries e ON e.id = c.entry_id JOIN folders f ON f.id = e.folder_id LEFT JOIN users u ON u.id = f.owner_id ORDER BY c.entry_id`
	qInsertAlert   = `INSERT INTO alerts (at, kind, account, path, action, detail) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`
	qListAlerts    = `SELECT id, at, kind, account, path, action, detail, acknowledged, acknowledged_by FROM alerts WHERE ($1 = 0 OR acknowledged = 0) AND id < $2 ORDER BY id DESC LIMIT $3`
	qAckAlert      = `UPDATE alerts SET acknowledged = $2, acknowledged_by = $3 WHERE id = $1 AND acknowledged = 0`
	qAlertExists   = `SELECT COUNT(*) FROM alerts WHERE kind = $1 AND account = $2 AND at >= $3`
	qUserGrantPerm = `SELECT COALESCE(MAX(perms), 0) FROM grants WHERE folder_id = $1 AND user_id = $2`
	qGroupPerm     = `SELECT COALESCE(MAX(perms), 0) FROM grants WHERE folder_id = $1 AND group_id = $2`
	qGroupGrants   = `SELECT COUNT(*) FROM grants WHERE group_id = $1`
)

// SetSuspended suspends a user (at not zero) or lifts the suspension (at zero).
// Errors: NotFound.
func (q Q) SetSuspended(ctx context.Context, userID int64, at time.Time) error {
	return q.execOne(ctx, qSetSuspended, userID, micro(at), micro(time.Now()))
}

// AddDownload counts files and bytes downloaded by a user (0: all users together) in
// an hour (Unix time / 3600).
func (q Q) AddDownload(ctx context.Context, userID, hour, files, bytes int64) error {
	_, err := q.q.ExecContext(ctx, qAddDownload, userID, hour, files, bytes)
	return q.d.classify(err)
}

// DownloadSums returns the files and bytes a user (0: all users) downloaded in the
// hours [from, to).
func (q Q) DownloadSums(ctx context.Context, userID, from, to int64) (files, bytes int64, err error) {
	err = q.q.QueryRowContext(ctx, qDownloadSums, userID, from, to).Scan(&files, &bytes)
	return files, bytes, q.d.classify(err)
}

// PruneDownloadCounts forgets the counts of hours before hour.
func (q Q) PruneDownloadCounts(ctx context.Context, hour int64) error {
	_, err := q.q.ExecContext(ctx, qPruneCounts, hour)
	return q.d.classify(err)
}

// SetCanary marks (on) or unmarks an entry as a canary.
func (q Q) SetCanary(ctx context.Context, entryID int64, on bool, at time.Time, by string) error {
	if on {
		_, err := q.q.ExecContext(ctx, qInsertCanary, entryID, micro(at), by)
		return q.d.classify(err)
	}
	return q.execOne(ctx, qDeleteCanary, entryID)
}

// IsCanary reports whether an entry is marked as a canary.
func (q Q) IsCanary(ctx context.Context, entryID int64) (bool, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, qIsCanary, entryID).Scan(&n)
	return n > 0, q.d.classify(err)
}

// CanariesUnder returns the names of the canaries directly in a directory (parent 0:
// the folder's root).
func (q Q) CanariesUnder(ctx context.Context, folderID, parentID int64) ([]string, error) {
	return q.strings(ctx, qCanariesUnder, folderID, parentID)
}

// Canary is a canary mark with where its entry lies.
type Canary struct {
	EntryID   int64
	Folder    string // the shared folder's name; "" for a home
	Owner     string // the home's owner; "" for a shared folder
	Name      string
	IsDir     bool
	Created   time.Time
	CreatedBy string
}

// ListCanaries returns every canary mark.
func (q Q) ListCanaries(ctx context.Context) ([]Canary, error) {
	rows, err := q.q.QueryContext(ctx, qListCanaries)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []Canary
	for rows.Next() {
		var c Canary
		var isDir, created int64
		if err := rows.Scan(&c.EntryID, &c.Folder, &c.Owner, &c.Name, &isDir, &created, &c.CreatedBy); err != nil {
			return nil, q.d.classify(err)
		}
		c.IsDir, c.Created = isDir != 0, fromMicro(created)
		out = append(out, c)
	}
	return out, q.d.classify(rows.Err())
}

// Alert is a tripwire's alert.
type Alert struct {
	ID             int64
	At             time.Time
	Kind           string
	Account        string
	Path           string
	Action         string
	Detail         string
	Acknowledged   time.Time // zero: open
	AcknowledgedBy string
}

// InsertAlert stores a new alert and returns its id.
func (q Q) InsertAlert(ctx context.Context, a Alert) (int64, error) {
	var id int64
	err := q.q.QueryRowContext(ctx, qInsertAlert, micro(a.At), a.Kind, a.Account, a.Path, a.Action, a.Detail).Scan(&id)
	return id, q.d.classify(err)
}

// ListAlerts returns up to limit alerts with ids below before (0: from the newest),
// newest first; with open, only those not acknowledged.
func (q Q) ListAlerts(ctx context.Context, open bool, before int64, limit int) ([]Alert, error) {
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := q.q.QueryContext(ctx, qListAlerts, flag(open), before, limit)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		var a Alert
		var at, ack int64
		if err := rows.Scan(&a.ID, &at, &a.Kind, &a.Account, &a.Path, &a.Action, &a.Detail, &ack, &a.AcknowledgedBy); err != nil {
			return nil, q.d.classify(err)
		}
		a.At, a.Acknowledged = fromMicro(at), fromMicro(ack)
		out = append(out, a)
	}
	return out, q.d.classify(rows.Err())
}

// AcknowledgeAlert marks an open alert as seen. Errors: NotFound (no such open alert).
func (q Q) AcknowledgeAlert(ctx context.Context, id int64, at time.Time, by string) error {
	return q.execOne(ctx, qAckAlert, id, micro(at), by)
}

// AlertRaised reports whether an alert of kind about account was raised at or after since.
func (q Q) AlertRaised(ctx context.Context, kind, account string, since time.Time) (bool, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, qAlertExists, kind, account, micro(since)).Scan(&n)
	return n > 0, q.d.classify(err)
}

// GrantPerms returns the permissions that a user's (or, with group, a group's) own grant
// on a folder gives; 0 if there is none.
func (q Q) GrantPerms(ctx context.Context, folderID, id int64, group bool) (int64, error) {
	var perms int64
	var err error
	if group {
		err = q.q.QueryRowContext(ctx, qGroupPerm, folderID, id).Scan(&perms)
	} else {
		err = q.q.QueryRowContext(ctx, qUserGrantPerm, folderID, id).Scan(&perms)
	}
	return perms, q.d.classify(err)
}

// GroupHasGrants reports whether any grant names the group.
func (q Q) GroupHasGrants(ctx context.Context, groupID int64) (bool, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, qGroupGrants, groupID).Scan(&n)
	return n > 0, q.d.classify(err)
}
