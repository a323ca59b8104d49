package db

import (
	"context"
	"time"
)

// Parcel is a send parcel or a request (docs/parcels.md).
type Parcel struct {
	ID             string
	Kind           string // "send" or "request"
	OwnerID        int64
	OwnerName      string // read only: the owner's user name
	OwnerDisabled  bool   // read only: the owner's account is disabled, or suspended by a tripwire
	FolderID       int64
	State          string // "draft", "sent", "open", "closed"
	Subject        string
	Message        string
	E2E            bool
	KDFSalt        []byte
	Manifest       string
	PassphraseHash string
	MaxDownloads   int64 // per recipient and file; 0 = unlimited
	Notify         bool
	Lifetime       time.Duration
	Created        time.Time
	Sent           time.Time
	Expires        time.Time
	Revoked        time.Time
	Purged         time.Time
}

// ParcelRecipient is one recipient of a parcel: one link.
type ParcelRecipient struct {
	ID            string
	ParcelID      string
	Email         string // "" for the one link of a parcel without recipients
	Created       time.Time
	Revoked       time.Time
	FailedUnlocks int64
	Views         int64
	FirstView     time.Time
	LastView      time.Time
}

// ParcelFile is one file of a parcel; its content is the entry named ID in the parcel's folder.
type ParcelFile struct {
	ID       string
	ParcelID string
	Name     string // e2e: the sealed metadata
	Size     int64
	SHA256   []byte
	Uploader string // "" the owner, else a recipient id
	Created  time.Time
}

// ParcelDownload is a delivery receipt: how often a recipient downloaded a file.
type ParcelDownload struct {
	RecipientID string
	FileID      string
	Count       int64
	First       time.Time
	Last        time.Time
}

const (
	parcelColumns    = `p.id, p.kind, p.owner_id, u.name, CASE WHEN u.disabled <> 0 OR u.suspended <> 0 THEN 1 ELSE 0 END, p.folder_id, p.state, p.subject, p.message, p.e2e, p.kdf_salt, p.manifest, p.passphrase_hash, p.max_downloads, p.notify, p.lifetime, p.created, p.sent, p.expires, p.revoked, p.purged`
	recipientColumns = `id, parcel_id, email, created, revoked, failed_unlocks, views, first_view, last_view`
	parcelFileColumn = `id, parcel_id, name, size, sha256, uploader, created`

	qInsertParcelFolder = `INSERT INTO folders (name, owner_id, quota_bytes, used_bytes, created) VALUES (NULL, NULL, $1, 0, $2) RETURNING id`
	qInsertParcel       = `INSERT INTO parcels (id, kind, owner_id, folder_id, state, subject, message, e2e, kdf_salt, manifest, passphrase_hash, max_downloads, notify, lifetime, created, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`
	qParcelByID         = `SELECT ` + parcelColumns + ` FROM parcels p JOIN users u ON u.id = p.owner_id WHERE p.id = $1`
	// Newest first; the cursor is the (created, id) of the last parcel of the previous page.
	qParcelsOfOwner = `SELECT ` + parcelColumns + ` FROM parcels p JOIN users u ON u.id = p.owner_id WHERE p.owner_id = $1 AND (p.created < $2 OR (p.created = $2 AND p.id < $3)) ORDER BY p.created DESC, p.id DESC LIMIT $4`
	qSendParcel     = `UPDATE parcels SET state = 'sent', sent = $2, expires = $3, manifest = $4 WHERE id = $1 AND state = 'draft' AND revoked = 0`
	qCloseParcel    = `UPDATE parcels SET state = 'closed' WHERE id = $1 AND state = 'open'`
	qRevokeParcel   = `UPDATE parcels SET revoked = $2 WHERE id = $1 AND revoked = 0`
	qParcelsToPurge = `SELECT ` + parcelColumns + ` FROM parcels p JOIN users u ON u.id = p.owner_id WHERE p.purged = 0 AND (p.expires < $1 OR p.revoked > 0) ORDER BY p.expires LIMIT $2`
	qMarkPurged     = `UPDATE parcels SET purged = $2 WHERE id = $1 AND purged = 0`

	qInsertRecipient     = `INSERT INTO parcel_recipients (id, parcel_id, email, token_hash, created) VALUES ($1, $2, $3, $4, $5)`
	qSetRecipientToken   = `UPDATE parcel_recipients SET token_hash = $2 WHERE id = $1 AND token_hash IS NULL`
	qRecipientByToken    = `SELECT ` + recipientColumns + ` FROM parcel_recipients WHERE token_hash = $1`
	qRecipientByID       = `SELECT ` + recipientColumns + ` FROM parcel_recipients WHERE id = $1`
	qRecipientsOfParcel  = `SELECT ` + recipientColumns + ` FROM parcel_recipients WHERE parcel_id = $1 ORDER BY created, id`
	qCountRecipients     = `SELECT COUNT(*) FROM parcel_recipients WHERE parcel_id = $1`
	qRevokeRecipient     = `UPDATE parcel_recipients SET revoked = $2 WHERE id = $1 AND revoked = 0`
	qRecipientViewed     = `UPDATE parcel_recipients SET views = views + 1, first_view = CASE WHEN first_view = 0 THEN $2 ELSE first_view END, last_view = $2 WHERE id = $1`
	qRecipientFailed     = `UPDATE parcel_recipients SET failed_unlocks = failed_unlocks + 1 WHERE id = $1 RETURNING failed_unlocks`
	qInsertParcelFile    = `INSERT INTO parcel_files (` + parcelFileColumn + `) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	qParcelFiles         = `SELECT ` + parcelFileColumn + ` FROM parcel_files WHERE parcel_id = $1 ORDER BY created, id`
	qParcelFileByID      = `SELECT ` + parcelFileColumn + ` FROM parcel_files WHERE parcel_id = $1 AND id = $2`
	qCountParcelFiles    = `SELECT COUNT(*) FROM parcel_files WHERE parcel_id = $1`
	qParcelFileNameTaken = `SELECT COUNT(*) FROM parcel_files WHERE parcel_id = $1 AND uploader = $2 AND name = $3`
	// One more download, unless the recipient already had max of this file.
	qCountDownload = `INSERT INTO parcel_downloads (recipient_id, file_id, count, first_at, last_at) VALUES ($1, $2, 1, $3, $3)
ON CONFLICT (recipient_id, file_id) DO UPDATE SET count = parcel_downloads.count + 1, last_at = $3 WHERE parcel_downloads.count < $4`
	qParcelDownloads    = `SELECT d.recipient_id, d.file_id, d.count, d.first_at, d.last_at FROM parcel_downloads d JOIN parcel_recipients r ON r.id = d.recipient_id WHERE r.parcel_id = $1 ORDER BY d.first_at`
	qRecipientDownloads = `SELECT recipient_id, file_id, count, first_at, last_at FROM parcel_downloads WHERE recipient_id = $1`

	// The contents of a folder that a use case owns (a parcel's): all its files at once.
	qFolderBlobIDs       = `SELECT blob_id FROM entries WHERE folder_id = $1 AND blob_id IS NOT NULL UNION ALL SELECT blob_id FROM uploads WHERE folder_id = $1 UNION ALL SELECT s.blob_id FROM upload_segments s JOIN uploads u ON u.id = s.upload_id WHERE u.folder_id = $1`
	qDeleteFolderItems   = `DELETE FROM entries WHERE folder_id = $1`
	qDeleteFolderUploads = `DELETE FROM uploads WHERE folder_id = $1`
	qResetFolderUsage    = `UPDATE folders SET used_bytes = 0 WHERE id = $1`
)

// noLimit stands for "no limit" in comparisons with counters and times.
const noLimit = 1 << 62

func scanParcel(s scanner) (Parcel, error) {
	var p Parcel
	var disabled, e2e, notify, lifetime, created, sent, expires, revoked, purged int64
	err := s.Scan(&p.ID, &p.Kind, &p.OwnerID, &p.OwnerName, &disabled, &p.FolderID, &p.State, &p.Subject, &p.Message, &e2e, &p.KDFSalt,
		&p.Manifest, &p.PassphraseHash, &p.MaxDownloads, &notify, &lifetime, &created, &sent, &expires, &revoked, &purged)
	p.OwnerDisabled = disabled != 0
	p.E2E, p.Notify, p.Lifetime = e2e != 0, notify != 0, time.Duration(lifetime)*time.Microsecond
	p.Created, p.Sent, p.Expires = fromMicro(created), fromMicro(sent), fromMicro(expires)
	p.Revoked, p.Purged = fromMicro(revoked), fromMicro(purged)
	return p, err
}

func scanRecipient(s scanner) (ParcelRecipient, error) {
	var r ParcelRecipient
	var created, revoked, first, last int64
	err := s.Scan(&r.ID, &r.ParcelID, &r.Email, &created, &revoked, &r.FailedUnlocks, &r.Views, &first, &last)
	r.Created, r.Revoked, r.FirstView, r.LastView = fromMicro(created), fromMicro(revoked), fromMicro(first), fromMicro(last)
	return r, err
}

func scanParcelFile(s scanner) (ParcelFile, error) {
	var f ParcelFile
	var created int64
	err := s.Scan(&f.ID, &f.ParcelID, &f.Name, &f.Size, &f.SHA256, &f.Uploader, &created)
	f.Created = fromMicro(created)
	return f, err
}

func scanDownload(s scanner) (ParcelDownload, error) {
	var d ParcelDownload
	var first, last int64
	err := s.Scan(&d.RecipientID, &d.FileID, &d.Count, &first, &last)
	d.First, d.Last = fromMicro(first), fromMicro(last)
	return d, err
}

// all runs a query and scans every row with scan.
func all[T any](q Q, ctx context.Context, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, v)
	}
	return out, q.d.classify(rows.Err())
}

// InsertParcelFolder makes the folder that holds a parcel's files, in nobody's tree.
func (q Q) InsertParcelFolder(ctx context.Context, quota int64) (int64, error) {
	var id int64
	err := q.q.QueryRowContext(ctx, qInsertParcelFolder, quota, micro(time.Now())).Scan(&id)
	return id, q.d.classify(err)
}

// InsertParcel records a new parcel (its OwnerName, Sent, Revoked and Purged are ignored).
func (q Q) InsertParcel(ctx context.Context, p Parcel) error {
	_, err := q.q.ExecContext(ctx, qInsertParcel, p.ID, p.Kind, p.OwnerID, p.FolderID, p.State, p.Subject, p.Message,
		flag(p.E2E), p.KDFSalt, p.Manifest, p.PassphraseHash, p.MaxDownloads, flag(p.Notify), p.Lifetime.Microseconds(),
		micro(p.Created), micro(p.Expires))
	return q.d.classify(err)
}

// ParcelByID returns a parcel. Errors: NotFound.
func (q Q) ParcelByID(ctx context.Context, id string) (Parcel, error) {
	p, err := scanParcel(q.q.QueryRowContext(ctx, qParcelByID, id))
	return p, q.d.classify(err)
}

// ParcelsOfOwner lists up to limit of a user's parcels, newest first, that come after the
// cursor (beforeCreated, beforeID); a zero time starts at the newest.
func (q Q) ParcelsOfOwner(ctx context.Context, ownerID int64, beforeCreated time.Time, beforeID string, limit int) ([]Parcel, error) {
	c := micro(beforeCreated)
	if c == 0 {
		c, beforeID = noLimit, ""
	}
	return all(q, ctx, scanParcel, qParcelsOfOwner, ownerID, c, beforeID, limit)
}

// SendParcel marks a draft as sent. Errors: NotFound when it is not an unrevoked draft.
func (q Q) SendParcel(ctx context.Context, id string, sent, expires time.Time, manifest string) error {
	return q.execOne(ctx, qSendParcel, id, micro(sent), micro(expires), manifest)
}

// CloseParcel stops an open request. Errors: NotFound when it is not open.
func (q Q) CloseParcel(ctx context.Context, id string) error {
	return q.execOne(ctx, qCloseParcel, id)
}

// RevokeParcel revokes a parcel. Errors: NotFound when it was revoked already.
func (q Q) RevokeParcel(ctx context.Context, id string, at time.Time) error {
	return q.execOne(ctx, qRevokeParcel, id, micro(at))
}

// ParcelsToPurge lists up to limit parcels whose contents are due for deletion: expired
// before now, or revoked.
func (q Q) ParcelsToPurge(ctx context.Context, now time.Time, limit int) ([]Parcel, error) {
	return all(q, ctx, scanParcel, qParcelsToPurge, micro(now), limit)
}

// MarkParcelPurged records that a parcel's contents were deleted. Errors: NotFound when
// that was recorded already.
func (q Q) MarkParcelPurged(ctx context.Context, id string, at time.Time) error {
	return q.execOne(ctx, qMarkPurged, id, micro(at))
}

// InsertParcelRecipient records a recipient, with the hash of their link's token or,
// while the parcel is a draft, none (nil).
func (q Q) InsertParcelRecipient(ctx context.Context, r ParcelRecipient, tokenHash []byte) error {
	var h any
	if tokenHash != nil {
		h = tokenHash
	}
	_, err := q.q.ExecContext(ctx, qInsertRecipient, r.ID, r.ParcelID, r.Email, h, micro(r.Created))
	return q.d.classify(err)
}

// SetRecipientToken gives a recipient the hash of their link's token. Errors: NotFound
// when they have one already.
func (q Q) SetRecipientToken(ctx context.Context, id string, tokenHash []byte) error {
	return q.execOne(ctx, qSetRecipientToken, id, tokenHash)
}

// RecipientByTokenHash finds the recipient whose link token hashes to h. Errors: NotFound.
func (q Q) RecipientByTokenHash(ctx context.Context, h []byte) (ParcelRecipient, error) {
	r, err := scanRecipient(q.q.QueryRowContext(ctx, qRecipientByToken, h))
	return r, q.d.classify(err)
}

// ParcelRecipientByID returns a recipient. Errors: NotFound.
func (q Q) ParcelRecipientByID(ctx context.Context, id string) (ParcelRecipient, error) {
	r, err := scanRecipient(q.q.QueryRowContext(ctx, qRecipientByID, id))
	return r, q.d.classify(err)
}

// ParcelRecipients lists a parcel's recipients in the order they were added.
func (q Q) ParcelRecipients(ctx context.Context, parcelID string) ([]ParcelRecipient, error) {
	return all(q, ctx, scanRecipient, qRecipientsOfParcel, parcelID)
}

// CountParcelRecipients counts a parcel's recipients.
func (q Q) CountParcelRecipients(ctx context.Context, parcelID string) (int64, error) {
	return q.count(ctx, qCountRecipients, parcelID)
}

// RevokeParcelRecipient revokes one link. Errors: NotFound when it was revoked already.
func (q Q) RevokeParcelRecipient(ctx context.Context, id string, at time.Time) error {
	return q.execOne(ctx, qRevokeRecipient, id, micro(at))
}

// ParcelRecipientViewed counts a view of a link.
func (q Q) ParcelRecipientViewed(ctx context.Context, id string, at time.Time) error {
	return q.execOne(ctx, qRecipientViewed, id, micro(at))
}

// ParcelUnlockFailed counts a wrong passphrase for a link and returns how many there were.
func (q Q) ParcelUnlockFailed(ctx context.Context, id string) (int64, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, qRecipientFailed, id).Scan(&n)
	return n, q.d.classify(err)
}

// InsertParcelFile records a file of a parcel. Errors: Exist when the uploader has a file
// of that name in the parcel.
func (q Q) InsertParcelFile(ctx context.Context, f ParcelFile) error {
	_, err := q.q.ExecContext(ctx, qInsertParcelFile, f.ID, f.ParcelID, f.Name, f.Size, f.SHA256, f.Uploader, micro(f.Created))
	return q.d.classify(err)
}

// ParcelFiles lists a parcel's files in the order they were added.
func (q Q) ParcelFiles(ctx context.Context, parcelID string) ([]ParcelFile, error) {
	return all(q, ctx, scanParcelFile, qParcelFiles, parcelID)
}

// ParcelFileByID returns a file of a parcel. Errors: NotFound.
func (q Q) ParcelFileByID(ctx context.Context, parcelID, id string) (ParcelFile, error) {
	f, err := scanParcelFile(q.q.QueryRowContext(ctx, qParcelFileByID, parcelID, id))
	return f, q.d.classify(err)
}

// CountParcelFiles counts a parcel's files.
func (q Q) CountParcelFiles(ctx context.Context, parcelID string) (int64, error) {
	return q.count(ctx, qCountParcelFiles, parcelID)
}

// ParcelFileNameTaken reports whether uploader has a file called name in a parcel.
func (q Q) ParcelFileNameTaken(ctx context.Context, parcelID, uploader, name string) (bool, error) {
	n, err := q.count(ctx, qParcelFileNameTaken, parcelID, uploader, name)
	return n > 0, err
}

// CountParcelDownload counts one more download of a file by a recipient, unless they
// had max already (0 = no limit): then ok is false and nothing changes.
func (q Q) CountParcelDownload(ctx context.Context, recipientID, fileID string, at time.Time, max int64) (ok bool, err error) {
	if max <= 0 {
		max = noLimit
	}
	res, err := q.q.ExecContext(ctx, qCountDownload, recipientID, fileID, micro(at), max)
	if err != nil {
		return false, q.d.classify(err)
	}
	n, err := res.RowsAffected()
	return n > 0, q.d.classify(err)
}

// ParcelDownloads lists the delivery receipts of a parcel.
func (q Q) ParcelDownloads(ctx context.Context, parcelID string) ([]ParcelDownload, error) {
	return all(q, ctx, scanDownload, qParcelDownloads, parcelID)
}

// RecipientDownloads lists the downloads of one recipient.
func (q Q) RecipientDownloads(ctx context.Context, recipientID string) ([]ParcelDownload, error) {
	return all(q, ctx, scanDownload, qRecipientDownloads, recipientID)
}

// FolderBlobIDs lists the blobs of every file and partial upload in a folder.
func (q Q) FolderBlobIDs(ctx context.Context, folderID int64) ([]string, error) {
	return q.strings(ctx, qFolderBlobIDs, folderID)
}

// EmptyFolder removes every entry and partial upload of a folder and sets its usage to
// zero; the blobs are the caller's to collect (FolderBlobIDs first).
func (q Q) EmptyFolder(ctx context.Context, folderID int64) error {
	if _, err := q.q.ExecContext(ctx, qDeleteFolderItems, folderID); err != nil {
		return q.d.classify(err)
	}
	if _, err := q.q.ExecContext(ctx, qDeleteFolderUploads, folderID); err != nil {
		return q.d.classify(err)
	}
	_, err := q.q.ExecContext(ctx, qResetFolderUsage, folderID)
	return q.d.classify(err)
}

func (q Q) count(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, q.d.classify(err)
}
