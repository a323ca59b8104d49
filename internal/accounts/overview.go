package accounts

import (
	"context"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Activity sums the audit records of a period for the administrators' dashboard.
type Activity struct {
	Since                        time.Time
	Uploads, Downloads           int64 // completed transfers
	UploadedBytes, DownloadBytes int64
	FailedTransfers              int64 // uploads and downloads refused or failed
	SignIns, FailedSignIns       int64 // all protocols
	Lockouts                     int64
	Denied                       int64 // every refused action, sign-ins included
}

// Overview is what the dashboard shows: the activity since a time and the totals now.
type Overview struct {
	Activity
	db.Totals
}

// Overview returns the activity since since and the current totals; administrators only.
func (s *Service) Overview(ctx context.Context, actor auth.Principal, since time.Time) (Overview, error) {
	const op = errs.Op("accounts.Overview")
	if err := s.admin(ctx, actor, audit.ActAuditView, "dashboard"); err != nil {
		return Overview{}, errs.E(op, err)
	}
	q := s.db.Q()
	counts, err := q.AuditActionCounts(ctx, since)
	if err != nil {
		return Overview{}, errs.E(op, err)
	}
	o := Overview{Activity: Activity{Since: since}}
	for _, c := range counts {
		ok := c.Result == audit.OK
		if c.Result == audit.Denied {
			o.Denied += c.Count
		}
		switch {
		case c.Action == audit.ActFileUpload && ok:
			o.Uploads, o.UploadedBytes = o.Uploads+c.Count, o.UploadedBytes+c.Bytes
		case c.Action == audit.ActFileDownload && ok:
			o.Downloads, o.DownloadBytes = o.Downloads+c.Count, o.DownloadBytes+c.Bytes
		case c.Action == audit.ActFileUpload || c.Action == audit.ActFileDownload:
			o.FailedTransfers += c.Count
		case c.Action == audit.ActLogin && ok:
			o.SignIns += c.Count
		case c.Action == audit.ActLogin:
			o.FailedSignIns += c.Count
		case c.Action == audit.ActLockout:
			o.Lockouts += c.Count
		}
	}
	if o.Totals, err = q.Totals(ctx, time.Now()); err != nil {
		return Overview{}, errs.E(op, err)
	}
	return o, nil
}

// LiveSessions lists up to limit web sessions of all users that have not expired, most
// recently seen first; administrators only.
func (s *Service) LiveSessions(ctx context.Context, actor auth.Principal, limit int) ([]auth.WebSession, error) {
	const op = errs.Op("accounts.LiveSessions")
	if err := s.admin(ctx, actor, audit.ActSessionEnd, "*"); err != nil {
		return nil, errs.E(op, err)
	}
	rows, err := s.db.Q().LiveWebSessions(ctx, time.Now(), clampLimit(limit))
	if err != nil {
		return nil, errs.E(op, err)
	}
	return sessionInfos(rows), nil
}

func sessionInfos(rows []db.WebSession) []auth.WebSession {
	out := make([]auth.WebSession, len(rows))
	for i, r := range rows {
		out[i] = auth.SessionInfo(r)
	}
	return out
}

// ExportAudit passes every audit record matching f to each, oldest first, reading the
// log in batches so that memory does not grow with its length; administrators only. The
// export itself is audited with its filter, and the count of records is returned.
func (s *Service) ExportAudit(ctx context.Context, actor auth.Principal, f db.AuditFilter, each func(db.AuditRecord) error) (int64, error) {
	const op = errs.Op("accounts.ExportAudit")
	if err := s.admin(ctx, actor, audit.ActAuditExport, ""); err != nil {
		return 0, errs.E(op, err)
	}
	rec := record(actor, audit.ActAuditExport, "")
	rec.Detail = describeFilter(f)
	if err := s.audit.Append(ctx, rec); err != nil {
		return 0, errs.E(op, err)
	}
	var n int64
	f.AfterSeq = 0
	for {
		batch, err := s.db.Q().AuditQueryOldestFirst(ctx, f, 1000)
		if err != nil {
			return n, errs.E(op, err)
		}
		if len(batch) == 0 {
			return n, nil
		}
		for _, r := range batch {
			if err := each(r); err != nil {
				return n, err
			}
			n++
		}
		f.AfterSeq = batch[len(batch)-1].Seq
	}
}

func describeFilter(f db.AuditFilter) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("actor", f.Actor)
	add("action", f.Action)
	add("path", f.PathPart)
	if !f.Since.IsZero() {
		add("since", f.Since.UTC().Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		add("until", f.Until.UTC().Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "all records"
	}
	return strings.Join(parts, " ")
}

// RecentSignIns returns the actor's own last sign-ins and failed attempts (over every
// protocol), newest first, so that people can notice someone else using their account.
func (s *Service) RecentSignIns(ctx context.Context, actor auth.Principal, limit int) ([]db.AuditRecord, error) {
	if actor.UserID == 0 || actor.Name == "" {
		return nil, errs.E(errs.Op("accounts.RecentSignIns"), errs.Permission, "only a signed-in user has sign-ins")
	}
	recs, err := s.db.Q().AuditQuery(ctx, db.AuditFilter{Actor: actor.Name, Action: audit.ActLogin}, clampLimit(limit))
	if err != nil {
		return nil, errs.E(errs.Op("accounts.RecentSignIns"), err)
	}
	return recs, nil
}
