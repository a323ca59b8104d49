package db

import (
	"context"
	"time"
)

// Upload is a partial upload: the stored beginning of a file whose upload was
// interrupted, which only its owner can continue (docs/format.md, "Partial uploads").
type Upload struct {
	ID          string
	UserID      int64
	FolderID    int64
	Path        string // components inside the folder, joined by "/"
	BlobID      string
	Size        int64 // plaintext bytes stored, in the blob's chunks and the tail
	CryptHeader []byte
	HashState   []byte
	Tail        []byte // the bytes after the last whole chunk, sealed; nil if none
	Created     time.Time
	Expires     time.Time
}

const (
	uploadColumns   = `id, user_id, folder_id, path, blob_id, size, crypt_header, hash_state, tail, created, expires`
	qInsertUpload   = `INSERT INTO uploads (` + uploadColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
	qUploadAt       = `SELECT ` + uploadColumns + ` FROM uploads WHERE user_id = $1 AND folder_id = $2 AND path = $3`
	qUploadsExpired = `SELECT ` + uploadColumns + ` FROM uploads WHERE expires < $1 ORDER BY expires LIMIT $2`
	qDeleteUpload   = `DELETE FROM uploads WHERE id = $1`
)

func scanUpload(s scanner) (Upload, error) {
	var u Upload
	var created, expires int64
	err := s.Scan(&u.ID, &u.UserID, &u.FolderID, &u.Path, &u.BlobID, &u.Size, &u.CryptHeader, &u.HashState, &u.Tail, &created, &expires)
	u.Created, u.Expires = fromMicro(created), fromMicro(expires)
	return u, err
}

// InsertUpload records a partial upload. Errors: Exist when the user already has one at
// that path.
func (q Q) InsertUpload(ctx context.Context, u Upload) error {
	_, err := q.q.ExecContext(ctx, qInsertUpload, u.ID, u.UserID, u.FolderID, u.Path, u.BlobID, u.Size,
		u.CryptHeader, u.HashState, u.Tail, micro(u.Created), micro(u.Expires))
	return q.d.classify(err)
}

// UploadAt returns a user's partial upload at a path. Errors: NotFound.
func (q Q) UploadAt(ctx context.Context, userID, folderID int64, path string) (Upload, error) {
	u, err := scanUpload(q.q.QueryRowContext(ctx, qUploadAt, userID, folderID, path))
	return u, q.d.classify(err)
}

// UploadsExpired lists up to limit partial uploads that expired before t.
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

// DeleteUpload forgets a partial upload (its blob is the caller's to dispose of).
// Errors: NotFound when it is gone already (another session took it).
func (q Q) DeleteUpload(ctx context.Context, id string) error {
	return q.execOne(ctx, qDeleteUpload, id)
}
