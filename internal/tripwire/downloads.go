package tripwire

import (
	"context"
	"fmt"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
)

// Decision is what a download may do: Rate > 0 throttles it to Rate bytes a second.
type Decision struct {
	Rate int64
}

// all is the user id of the counters of all accounts together.
const all = 0

// Download is the hook of package files for each file opened for reading, before a byte
// is sent: it fires the canary tripwire for a canary entry, counts the file, and checks
// the limits and the baseline. An error refuses the download: the account was suspended
// (Unauthenticated) or the database failed.
func (s *Service) Download(ctx context.Context, p auth.Principal, entryID int64, path string) (Decision, error) {
	if s == nil {
		return Decision{}, nil
	}
	q := s.db.Q()
	canary, err := q.IsCanary(ctx, entryID)
	if err != nil {
		return Decision{}, err
	}
	var d Decision
	if canary {
		action := s.policy.OnCanary
		if err := s.fire(ctx, p, Canary, action, path, "a canary file was opened for reading"); err != nil {
			return d, err
		}
		if action == Throttle {
			d.Rate = s.policy.ThrottleRate
		}
	}
	now := s.now()
	hour := now.Unix() / 3600
	// A counter, not a record: a power failure may lose the last few, so the commit
	// does not wait for the disk (the audit record of the download is durable).
	err = s.db.TxLazy(ctx, func(q db.Q) error {
		if err := q.AddDownload(ctx, p.UserID, hour, 1, 0); err != nil {
			return err
		}
		return q.AddDownload(ctx, all, hour, 1, 0)
	})
	if err != nil {
		return d, err
	}
	for _, trip := range []func(context.Context, db.Q, auth.Principal, int64) (Kind, string, error){s.overLimit, s.anomalous} {
		kind, why, err := trip(ctx, q, p, hour)
		if err != nil {
			return d, err
		}
		if kind == "" {
			continue
		}
		action := s.policy.OnLimit
		if kind == Anomaly {
			action = s.policy.OnAnomaly
		}
		if action == Throttle {
			d.Rate = s.policy.ThrottleRate
		}
		// One alert (and one suspension) per account, tripwire and day: a mass download
		// would otherwise raise one per file; throttling goes on for every file.
		day := time.Unix(hour/24*24*3600, 0)
		raised, err := q.AlertRaised(ctx, string(kind), p.Name, day)
		if err != nil {
			return d, err
		}
		if raised {
			continue
		}
		if err := s.fire(ctx, p, kind, action, path, why); err != nil {
			return d, err
		}
	}
	return d, nil
}

// DownloadedTx is the hook of package files when a download ends: it counts the
// download's bytes inside the caller's transaction q, the one that appends its audit
// record (one commit, and one fsync, instead of two).
func (s *Service) DownloadedTx(ctx context.Context, q db.Q, p auth.Principal, bytes int64) error {
	if s == nil || bytes <= 0 {
		return nil
	}
	hour := s.now().Unix() / 3600
	if err := q.AddDownload(ctx, p.UserID, hour, 0, bytes); err != nil {
		return err
	}
	return q.AddDownload(ctx, all, hour, 0, bytes)
}

// overLimit checks the fixed limits after a file was counted in hour.
func (s *Service) overLimit(ctx context.Context, q db.Q, p auth.Principal, hour int64) (Kind, string, error) {
	pol := s.policy
	day := hour / 24 * 24
	checks := []struct {
		user  int64
		limit int64
		from  int64
		files bool
		what  string
	}{
		{p.UserID, pol.UserFilesPerHour, hour, true, "files this hour by the account"},
		{p.UserID, pol.UserBytesPerDay, day, false, "bytes today by the account"},
		{all, pol.GlobalFilesPerHour, hour, true, "files this hour by all accounts"},
		{all, pol.GlobalBytesPerDay, day, false, "bytes today by all accounts"},
	}
	for _, c := range checks {
		if c.limit <= 0 {
			continue
		}
		files, bytes, err := q.DownloadSums(ctx, c.user, c.from, hour+1)
		if err != nil {
			return "", "", err
		}
		n := bytes
		if c.files {
			n = files
		}
		if n > c.limit {
			return Volume, fmt.Sprintf("%d %s, over the limit of %d", n, c.what, c.limit), nil
		}
	}
	return "", "", nil
}

// anomalous compares today's downloads by the account with its baseline.
func (s *Service) anomalous(ctx context.Context, q db.Q, p auth.Principal, hour int64) (Kind, string, error) {
	pol := s.policy
	if pol.AnomalyFactor <= 0 {
		return "", "", nil
	}
	day := hour / 24 * 24
	files, bytes, err := q.DownloadSums(ctx, p.UserID, day, hour+1)
	if err != nil {
		return "", "", err
	}
	days := int64(max(pol.BaselineDays, 1))
	pastFiles, pastBytes, err := q.DownloadSums(ctx, p.UserID, day-24*days, day)
	if err != nil {
		return "", "", err
	}
	baseFiles, baseBytes := max(pastFiles/days, pol.FloorFiles), max(pastBytes/days, pol.FloorBytes)
	switch {
	case float64(files) > pol.AnomalyFactor*float64(baseFiles):
		return Anomaly, fmt.Sprintf("%d files today, over %g times the baseline of %d a day", files, pol.AnomalyFactor, baseFiles), nil
	case float64(bytes) > pol.AnomalyFactor*float64(baseBytes):
		return Anomaly, fmt.Sprintf("%d bytes today, over %g times the baseline of %d a day", bytes, pol.AnomalyFactor, baseBytes), nil
	}
	return "", "", nil
}

// Listed is the hook of package files for the first page of each directory listing: it
// fires the canary tripwire when the directory (dirID; 0 is the folder's root) is a canary
// or holds canaries. An error refuses the listing (the account was suspended).
func (s *Service) Listed(ctx context.Context, p auth.Principal, folderID, dirID int64, path string) error {
	if s == nil {
		return nil
	}
	q := s.db.Q()
	names, err := q.CanariesUnder(ctx, folderID, dirID)
	if err != nil {
		return err
	}
	self := false
	if dirID != 0 {
		if self, err = q.IsCanary(ctx, dirID); err != nil {
			return err
		}
	}
	if len(names) == 0 && !self {
		return nil
	}
	why := fmt.Sprintf("a listing showed canaries %q", names)
	if self {
		why = "a canary directory was listed"
	}
	return s.fire(ctx, p, Canary, s.policy.OnCanary, path, why)
}

// Prune forgets the download counts older than the baseline needs (BaselineDays before
// today, and a day more), so that the table does not grow for ever. A periodic job runs
// it.
func (s *Service) Prune(ctx context.Context) error {
	today := s.now().Unix() / 3600 / 24 * 24
	return s.db.Q().PruneDownloadCounts(ctx, today-int64(max(s.policy.BaselineDays, 1)+1)*24)
}
