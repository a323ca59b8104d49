package db

import (
	"context"
	"database/sql"
	"time"

	"github.com/coffer-mft/coffer/internal/errs"
)

// Upload is a partial upload: the stored beginning of a file whose upload was
// interrupted or is being sent in pieces, which only its owner can continue
// (docs/format.md, "Partial uploads").
type Upload struct {
	ID          string
	UserID      int64 // 0 (NULL): an upload into an owned folder, which no user can continue
	FolderID    int64
	Path        string // components inside the folder, joined by "/"
	VPath       string // the virtual path as the owner named it
	BlobID      string
	Size        int64 // plaintext bytes stored, in the blob's chunks and the tail
	Length      int64 // the whole file's announced size, or -1
	WantSHA256  []byte
	CryptHeader []byte
	HashState   []byte
	Tail        []byte // the bytes after the last whole chunk, sealed; nil if none
	LeaseUntil  time.Time
	Created     time.Time
	Expires     time.Time
}

const (
	uploadColumns   = `id, user_id, folder_id, path, vpath, blob_id, size, length, want_sha256, crypt_header, hash_state, tail, lease_until, created, expires`
	qInsertUpload   = `INSERT INTO uploads (` + uploadColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
	qUploadAt       = `SELECT ` + uploadColumns + ` FROM uploads WHERE user_id = $1 AND folder_id = $2 AND path = $3`
	qUploadByID     = `SELECT ` + uploadColumns + ` FROM uploads WHERE id = $1`
	qUploadsExpired = `SELECT ` + uploadColumns + ` FROM uploads WHERE expires < $1 AND lease_until < $1 ORDER BY expires LIMIT $2`
	qDeleteUpload   = `DELETE FROM uploads WHERE id = $1`
	qLeaseUpload    = `UPDATE uploads SET lease_until = $2 WHERE id = $1 AND lease_until < $3`
	qRenewUpload    = `UPDATE uploads SET lease_until = $2 WHERE id = $1`
	qUpdateUpload   = `UPDATE uploads SET blob_id = $2, size = $3, hash_state = $4, tail = $5, lease_until = 0, expires = $6 WHERE id = $1`

	qUploadSegments   = `SELECT seq, blob_id, size FROM upload_segments WHERE upload_id = $1 ORDER BY seq`
	qAddUploadSegment = `INSERT INTO upload_segments (upload_id, seq, blob_id, size) VALUES ($1, $2, $3, $4)`
	qDelUploadSegs    = `DELETE FROM upload_segments WHERE upload_id = $1`
)

// UploadSegment is a later piece of a partial upload's stored payload: the chunks one
// transfer sealed after those of uploads.blob_id and of the segments before it.
type UploadSegment struct {
	Seq    int64 // 1, 2, ... in the order of the bytes
	BlobID string
	Size   int64 // bytes stored in the blob
}

// UploadSegments returns the segments of partial upload id, in order; none for an upload
// whose payload is all in its own blob.
func (q Q) UploadSegments(ctx context.Context, id string) ([]UploadSegment, error) {
	rows, err := q.q.QueryContext(ctx, qUploadSegments, id)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []UploadSegment
	for rows.Next() {
		var g UploadSegment
		if err := rows.Scan(&g.Seq, &g.BlobID, &g.Size); err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, g)
	}
	return out, q.d.classify(rows.Err())
}

// AddUploadSegment records segment g after the others of partial upload id. Errors:
// Exist when a segment of that number is recorded already (another transfer's).
func (q Q) AddUploadSegment(ctx context.Context, id string, g UploadSegment) error {
	_, err := q.q.ExecContext(ctx, qAddUploadSegment, id, g.Seq, g.BlobID, g.Size)
	return q.d.classify(err)
}

func scanUpload(s scanner) (Upload, error) {
	var u Upload
	var lease, created, expires int64
	var user sql.NullInt64
	err := s.Scan(&u.ID, &user, &u.FolderID, &u.Path, &u.VPath, &u.BlobID, &u.Size, &u.Length, &u.WantSHA256,
		&u.CryptHeader, &u.HashState, &u.Tail, &lease, &created, &expires)
	u.LeaseUntil, u.Created, u.Expires = fromMicro(lease), fromMicro(created), fromMicro(expires)
	u.UserID = user.Int64
	return u, err
}

// InsertUpload records a partial upload (UserID 0: into an owned folder). Errors: Exist
// when the user already has one at that path.
func (q Q) InsertUpload(ctx context.Context, u Upload) error {
	user := sql.NullInt64{Int64: u.UserID, Valid: u.UserID != 0}
	_, err := q.q.ExecContext(ctx, qInsertUpload, u.ID, user, u.FolderID, u.Path, u.VPath, u.BlobID, u.Size, u.Length,
		u.WantSHA256, u.CryptHeader, u.HashState, u.Tail, micro(u.LeaseUntil), micro(u.Created), micro(u.Expires))
	return q.d.classify(err)
}

// UploadAt returns a user's partial upload at a path. Errors: NotFound.
func (q Q) UploadAt(ctx context.Context, userID, folderID int64, path string) (Upload, error) {
	u, err := scanUpload(q.q.QueryRowContext(ctx, qUploadAt, userID, folderID, path))
	return u, q.d.classify(err)
}

// UploadByID returns a partial upload. Errors: NotFound.
func (q Q) UploadByID(ctx context.Context, id string) (Upload, error) {
	u, err := scanUpload(q.q.QueryRowContext(ctx, qUploadByID, id))
	return u, q.d.classify(err)
}

// UploadsExpired lists up to limit partial uploads that expired before t and are not
// being appended to.
func (q Q) UploadsExpired(ctx context.Context, t time.Time, limit int) ([]Upload, error) {
	rows, err := q.q.QueryContext(ctx, qUploadsExpired, micro(t), limit)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []Upload
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, u)
	}
	return out, q.d.classify(rows.Err())
}

// DeleteUpload forgets a partial upload and its segments (their blobs are the caller's to
// dispose of).
// Errors: NotFound when it is gone already.
func (q Q) DeleteUpload(ctx context.Context, id string) error {
	return q.execOne(ctx, qDeleteUpload, id)
}

// LeaseUpload marks a partial upload as being appended to until until, if no other
// transfer holds it at now. Errors: Conflict when one does, NotFound when it is gone.
func (q Q) LeaseUpload(ctx context.Context, id string, now, until time.Time) error {
	err := q.execOne(ctx, qLeaseUpload, id, micro(until), micro(now))
	if errs.Is(errs.NotFound, err) {
		if _, err := q.UploadByID(ctx, id); err != nil {
			return err
		}
		return errs.E(errs.Conflict, "the upload is being received on another connection")
	}
	return err
}

// RenewUpload extends (or, with a zero until, releases) a lease.
func (q Q) RenewUpload(ctx context.Context, id string, until time.Time) error {
	_, err := q.q.ExecContext(ctx, qRenewUpload, id, micro(until))
	return q.d.classify(err)
}

// UpdateUpload stores what a transfer appended to a partial upload (blob, size, hash
// state, tail, expiry) and releases its lease. Errors: NotFound.
func (q Q) UpdateUpload(ctx context.Context, u Upload) error {
	return q.execOne(ctx, qUpdateUpload, u.ID, u.BlobID, u.Size, u.HashState, u.Tail, micro(u.Expires))
}

// DeleteUploadSegments forgets the segments of partial upload id (their blobs are the
// caller's to dispose of): its blob holds all it stored now.
func (q Q) DeleteUploadSegments(ctx context.Context, id string) error {
	_, err := q.q.ExecContext(ctx, qDelUploadSegs, id)
	return q.d.classify(err)
}
