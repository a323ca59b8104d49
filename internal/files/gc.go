package files

import (
	"context"
	"time"

	"github.com/coffer-mft/coffer/internal/blob"
)

// CollectGarbage deletes expired partial uploads, blobs that no entry references any
// longer (left behind when a deletion could not remove them at once) and blobs whose
// upload was abandoned by a crash more than staleAfter ago. It returns how many blobs it
// removed.
func (s *Service) CollectGarbage(ctx context.Context, staleAfter time.Duration) (int, error) {
	q := s.db.Q()
	removed, err := s.expirePartials(ctx)
	if err != nil {
		return removed, err
	}
	for {
		ids, err := q.ListGarbage(ctx, 500)
		if err != nil {
			return removed, err
		}
		if len(ids) == 0 {
			break // on to the abandoned uploads
		}
		before := removed
		for _, id := range ids {
			if err := s.blobs.Delete(ctx, blob.ID(id)); err != nil {
				s.log.Warn("cannot delete unreferenced blob", "blob", id, "err", err)
				continue
			}
			if err := q.RemoveGarbage(ctx, id); err != nil {
				return removed, err
			}
			removed++
		}
		if removed == before {
			break // nothing progressed: retry on the next run
		}
	}
	for {
		ids, err := q.PendingBefore(ctx, s.now().Add(-staleAfter), 500)
		if err != nil || len(ids) == 0 {
			return removed, err
		}
		for _, id := range ids {
			// A pending blob that an entry references was published by a transaction
			// that failed to forget it; never delete such a blob.
			used, err := q.BlobReferenced(ctx, id)
			if err != nil {
				return removed, err
			}
			if !used {
				if err := s.blobs.Delete(ctx, blob.ID(id)); err != nil {
					return removed, err
				}
				removed++
			}
			if err := q.RemovePending(ctx, id); err != nil {
				return removed, err
			}
		}
	}
}
