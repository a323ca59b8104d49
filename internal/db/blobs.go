package db

import (
	"context"
	"time"
)

const (
	qAddPending      = `INSERT INTO pending_blobs (blob_id, created) VALUES ($1, $2)`
	qRemovePending   = `DELETE FROM pending_blobs WHERE blob_id = $1`
	qPendingBefore   = `SELECT blob_id FROM pending_blobs WHERE created < $1 ORDER BY created LIMIT $2`
	qAddGarbage      = `INSERT INTO garbage_blobs (blob_id, created) VALUES ($1, $2) ON CONFLICT DO NOTHING`
	qRemoveGarbage   = `DELETE FROM garbage_blobs WHERE blob_id = $1`
	qListGarbage     = `SELECT blob_id FROM garbage_blobs ORDER BY created LIMIT $1`
	qBlobReferenced  = `SELECT (SELECT COUNT(*) FROM entries WHERE blob_id = $1) + (SELECT COUNT(*) FROM uploads WHERE blob_id = $1) + (SELECT COUNT(*) FROM upload_segments WHERE blob_id = $1)`
	qAllEntryBlobIDs = `SELECT blob_id FROM entries WHERE blob_id IS NOT NULL AND blob_id > $1 ORDER BY blob_id LIMIT $2`
)

// AddPending records that a blob is about to be written, before its first byte is.
func (q Q) AddPending(ctx context.Context, blobID string) error {
	_, err := q.q.ExecContext(ctx, qAddPending, blobID, micro(time.Now()))
	return q.d.classify(err)
}

// RemovePending forgets a pending blob: it was published or deleted.
func (q Q) RemovePending(ctx context.Context, blobID string) error {
	_, err := q.q.ExecContext(ctx, qRemovePending, blobID)
	return q.d.classify(err)
}

// ClaimPending forgets a pending blob that is being published. Errors: NotFound when the
// row is gone, i.e. garbage collection took the blob for abandoned: do not publish it.
func (q Q) ClaimPending(ctx context.Context, blobID string) error {
	return q.execOne(ctx, qRemovePending, blobID)
}

// PendingBefore lists up to limit blobs pending since before t (abandoned by a crash).
func (q Q) PendingBefore(ctx context.Context, t time.Time, limit int) ([]string, error) {
	return q.strings(ctx, qPendingBefore, micro(t), limit)
}

// AddGarbage records a blob that no entry references any longer. A blob id "" (a
// small file's, whose payload was in its row) is nothing to collect and is ignored.
func (q Q) AddGarbage(ctx context.Context, blobID string) error {
	if blobID == "" {
		return nil
	}
	_, err := q.q.ExecContext(ctx, qAddGarbage, blobID, micro(time.Now()))
	return q.d.classify(err)
}

// RemoveGarbage forgets a garbage blob once it is deleted from the store.
func (q Q) RemoveGarbage(ctx context.Context, blobID string) error {
	_, err := q.q.ExecContext(ctx, qRemoveGarbage, blobID)
	return q.d.classify(err)
}

// ListGarbage lists up to limit blobs waiting to be deleted.
func (q Q) ListGarbage(ctx context.Context, limit int) ([]string, error) {
	return q.strings(ctx, qListGarbage, limit)
}

// BlobReferenced reports whether any entry or partial upload points at a blob.
func (q Q) BlobReferenced(ctx context.Context, blobID string) (bool, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, qBlobReferenced, blobID).Scan(&n)
	return n > 0, q.d.classify(err)
}

// EntryBlobIDs lists up to limit referenced blob ids above after, in order.
func (q Q) EntryBlobIDs(ctx context.Context, after string, limit int) ([]string, error) {
	return q.strings(ctx, qAllEntryBlobIDs, after, limit)
}
