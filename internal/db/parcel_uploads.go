package db

import (
	"context"
	"time"
)

// ParcelUpload ties a partial upload into a parcel's folder to its parcel and uploader
// (docs/parcels.md, "Resumable uploads"). It is deleted with its upload.
type ParcelUpload struct {
	UploadID string
	ParcelID string
	Uploader string // "" the owner, else a recipient id
	Name     string // e2e: the sealed metadata
	FileID   string // the file's id once complete: its entry's name in the folder
	Created  time.Time
}

const (
	parcelUploadColumns = `upload_id, parcel_id, uploader, name, file_id, created`
	qInsertParcelUpload = `INSERT INTO parcel_uploads (` + parcelUploadColumns + `) VALUES ($1, $2, $3, $4, $5, $6)`
	qParcelUploadByID   = `SELECT ` + parcelUploadColumns + ` FROM parcel_uploads WHERE upload_id = $1`
	qParcelUploadNamed  = `SELECT ` + parcelUploadColumns + ` FROM parcel_uploads WHERE parcel_id = $1 AND uploader = $2 AND name = $3`
	qCountParcelUploads = `SELECT COUNT(*) FROM parcel_uploads WHERE parcel_id = $1`
	qDeleteParcelUpload = `DELETE FROM parcel_uploads WHERE upload_id = $1`
)

func scanParcelUpload(s scanner) (ParcelUpload, error) {
	var u ParcelUpload
	var created int64
	err := s.Scan(&u.UploadID, &u.ParcelID, &u.Uploader, &u.Name, &u.FileID, &created)
	u.Created = fromMicro(created)
	return u, err
}

// InsertParcelUpload records whose a partial upload into a parcel is. Errors: Exist when
// the uploader has one of that name in the parcel already.
func (q Q) InsertParcelUpload(ctx context.Context, u ParcelUpload) error {
	_, err := q.q.ExecContext(ctx, qInsertParcelUpload, u.UploadID, u.ParcelID, u.Uploader, u.Name, u.FileID, micro(u.Created))
	return q.d.classify(err)
}

// ParcelUploadByID returns the parcel upload of a partial upload. Errors: NotFound.
func (q Q) ParcelUploadByID(ctx context.Context, uploadID string) (ParcelUpload, error) {
	u, err := scanParcelUpload(q.q.QueryRowContext(ctx, qParcelUploadByID, uploadID))
	return u, q.d.classify(err)
}

// ParcelUploadNamed returns uploader's upload called name into a parcel. Errors: NotFound.
func (q Q) ParcelUploadNamed(ctx context.Context, parcelID, uploader, name string) (ParcelUpload, error) {
	u, err := scanParcelUpload(q.q.QueryRowContext(ctx, qParcelUploadNamed, parcelID, uploader, name))
	return u, q.d.classify(err)
}

// CountParcelUploads counts the uploads into a parcel that are not complete yet.
func (q Q) CountParcelUploads(ctx context.Context, parcelID string) (int64, error) {
	return q.count(ctx, qCountParcelUploads, parcelID)
}

// DeleteParcelUpload forgets a parcel upload (its partial upload is the caller's to
// drop). Errors: NotFound.
func (q Q) DeleteParcelUpload(ctx context.Context, uploadID string) error {
	return q.execOne(ctx, qDeleteParcelUpload, uploadID)
}
