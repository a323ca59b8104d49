package parcel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// Resumable uploads into parcels (docs/parcels.md, "Resumable uploads"): a file that its
// sender adds to a draft, or that a link's holder uploads to a request, can arrive in
// pieces over several connections. Each upload belongs to one parcel and one uploader
// (the owner, or one recipient's link): any other finds no such upload. The bytes are kept
// by the files package's partial uploads in the parcel's folder; the file appears in the
// parcel only once complete and verified, with its audit record.

// ErrNoUpload is the one answer to an upload id that is not the caller's: completed,
// cancelled, expired, another link's, or never made.
var ErrNoUpload = errors.New("no such upload: it was completed, cancelled or expired, or the id is wrong")

// Upload is a resumable upload into a parcel, as its uploader sees it.
type Upload struct {
	ID      string
	Name    string // e2e: the sealed metadata
	Offset  int64  // bytes stored: resume from here
	Length  int64
	Expires time.Time
}

// uploader is who uploads into which parcel, and how their refusals are audited.
type uploader struct {
	p    db.Parcel
	by   db.ParcelRecipient // zero: the owner
	rec  audit.Record
	fail func(error) error
}

// ownerUploader checks that p may add files to parcel id (their own draft, live) for
// action; refusals are audited.
func (s *Service) ownerUploader(ctx context.Context, p auth.Principal, id, action string) (uploader, error) {
	rec := ownerRecord(p, action, id)
	fail := func(err error) error { return s.fail(ctx, rec, err) }
	dp, err := s.owned(ctx, p, id)
	if err == nil && dp.State != StateDraft {
		err = errs.E(errs.Conflict, "files can be added only before the parcel is sent")
	}
	if err == nil {
		err = s.live(dp)
	}
	if err != nil {
		return uploader{}, fail(err)
	}
	return uploader{p: dp, rec: rec, fail: fail}, nil
}

// recipientUploader checks that a's link may upload (a request that is open, the
// passphrase given) for action; refusals are audited.
func (s *Service) recipientUploader(ctx context.Context, a Access, action string) (uploader, error) {
	l, err := s.access(ctx, a, action)
	if err != nil {
		return uploader{}, err
	}
	switch {
	case l.p.Kind != KindRequest:
		err = errs.E(errs.Conflict, "this link is for downloading files, not for uploading")
	case l.p.State != StateOpen:
		err = errs.E(errs.Gone, "the requester no longer accepts files")
	}
	fail := func(err error) error { return s.denied(ctx, l, err) }
	if err != nil {
		return uploader{}, fail(err)
	}
	return uploader{p: l.p, by: l.r, rec: l.rec, fail: fail}, nil
}

// StartFile begins a resumable upload of a file into the caller's draft id: name is its
// file name (e2e: its sealed metadata), length its size, sum its SHA-256 if known. An
// upload of the same name that the caller began before is replaced. Errors: NotFound,
// Conflict (not a draft; the upload it would replace is receiving), Invalid, Exist,
// TooLarge (too many files), Quota.
func (s *Service) StartFile(ctx context.Context, p auth.Principal, id, name string, length int64, sum []byte) (Upload, error) {
	u, err := s.ownerUploader(ctx, p, id, audit.ActParcelUploadStart)
	if err != nil {
		return Upload{}, errs.E(errs.Op("parcel.StartFile"), err)
	}
	return s.start(ctx, u, name, length, sum)
}

// StartUpload begins a resumable upload of a file by the link's holder into a request,
// as StartFile does for a sender. Errors: those of StartFile and Upload.
func (s *Service) StartUpload(ctx context.Context, a Access, name string, length int64, sum []byte) (Upload, error) {
	u, err := s.recipientUploader(ctx, a, audit.ActParcelUploadStart)
	if err != nil {
		return Upload{}, err
	}
	return s.start(ctx, u, name, length, sum)
}

func (s *Service) start(ctx context.Context, u uploader, name string, length int64, sum []byte) (Upload, error) {
	up, err := s.startUpload(ctx, u, name, length, sum)
	if err != nil {
		return Upload{}, u.fail(err)
	}
	return up, nil
}

func (s *Service) startUpload(ctx context.Context, u uploader, name string, length int64, sum []byte) (Upload, error) {
	if err := checkFileName(u.p, name); err != nil {
		return Upload{}, err
	}
	if length < 0 {
		return Upload{}, errs.E(errs.Invalid, "the file's length must be known when its upload starts")
	}
	if s.policy.MaxParcelBytes > 0 && length > s.policy.MaxParcelBytes {
		// Refused before an upload it would replace is dropped (the files package
		// checks the room left in the parcel).
		return Upload{}, errs.E(errs.Quota, fmt.Sprintf("a parcel holds at most %d bytes", s.policy.MaxParcelBytes))
	}
	q := s.db.Q()
	// An upload under way holds a file's place: the parcel's files and uploads together
	// stay within the limit.
	n, err := q.CountParcelFiles(ctx, u.p.ID)
	if err != nil {
		return Upload{}, err
	}
	m, err := q.CountParcelUploads(ctx, u.p.ID)
	if err != nil {
		return Upload{}, err
	}
	old, err := q.ParcelUploadNamed(ctx, u.p.ID, u.by.ID, name)
	switch {
	case err == nil:
		m-- // replaced below
	case !errs.Is(errs.NotFound, err):
		return Upload{}, err
	}
	if n+m >= int64(s.policy.MaxFiles) {
		return Upload{}, errs.E(errs.TooLarge, fmt.Sprintf("a parcel may have at most %d files (counting the uploads under way)", s.policy.MaxFiles))
	}
	if taken, err := q.ParcelFileNameTaken(ctx, u.p.ID, u.by.ID, name); err != nil || taken {
		if err == nil {
			err = errs.E(errs.Exist, "a file of that name is in the parcel already")
		}
		return Upload{}, err
	}
	if old.UploadID != "" {
		// A client that lost its upload's address starts again: the bytes of the
		// first attempt go, as the files package does for a user's path.
		if err := s.files.DiscardOwned(ctx, u.p.FolderID, old.UploadID, nil); err != nil && !errs.Is(errs.NotFound, err) {
			return Upload{}, err
		}
	}
	pu := db.ParcelUpload{ParcelID: u.p.ID, Uploader: u.by.ID, Name: name, FileID: newID(), Created: s.now()}
	part, err := s.files.StartOwned(ctx, u.p.FolderID, pu.FileID, files.StartOptions{Length: length, SHA256: sum}, func(q db.Q, part files.Partial) error {
		pu.UploadID = part.ID
		if err := q.InsertParcelUpload(ctx, pu); err != nil {
			if errs.Is(errs.Exist, err) {
				return errs.E(errs.Conflict, "an upload of that name began at the same time: try again")
			}
			return err
		}
		rec := withResult(u.rec, audit.OK)
		rec.Bytes, rec.Detail = length, fmt.Sprintf("upload %s, file %s", part.ID, pu.FileID)
		return s.audit.AppendTx(ctx, q, rec)
	})
	if err != nil {
		return Upload{}, err
	}
	return uploadOut(pu, part), nil
}

func uploadOut(pu db.ParcelUpload, part files.Partial) Upload {
	return Upload{ID: pu.UploadID, Name: pu.Name, Offset: part.Size, Length: part.Length, Expires: part.Expires}
}

// find returns u's upload id and its state; any other is ErrNoUpload.
func (s *Service) find(ctx context.Context, u uploader, id string) (db.ParcelUpload, files.Partial, error) {
	pu, err := s.db.Q().ParcelUploadByID(ctx, id)
	if err == nil && (pu.ParcelID != u.p.ID || pu.Uploader != u.by.ID) {
		err = errs.E(errs.NotFound, "")
	}
	var part files.Partial
	if err == nil {
		part, err = s.files.OwnedPartial(ctx, u.p.FolderID, id)
	}
	if errs.Is(errs.NotFound, err) {
		err = errs.E(errs.NotFound, ErrNoUpload)
	}
	return pu, part, err
}

// FileUpload returns the state of the caller's upload uploadID into their draft id.
// Errors: NotFound (also ErrNoUpload), Conflict (not a draft).
func (s *Service) FileUpload(ctx context.Context, p auth.Principal, id, uploadID string) (Upload, error) {
	u, err := s.ownerUploader(ctx, p, id, audit.ActParcelFile)
	if err != nil {
		return Upload{}, errs.E(errs.Op("parcel.FileUpload"), err)
	}
	return s.uploadState(ctx, u, uploadID)
}

// UploadStatus returns the state of the link holder's upload uploadID. Errors: those of
// FileUpload and Upload.
func (s *Service) UploadStatus(ctx context.Context, a Access, uploadID string) (Upload, error) {
	u, err := s.recipientUploader(ctx, a, audit.ActParcelFile)
	if err != nil {
		return Upload{}, err
	}
	return s.uploadState(ctx, u, uploadID)
}

func (s *Service) uploadState(ctx context.Context, u uploader, id string) (Upload, error) {
	pu, part, err := s.find(ctx, u, id)
	if err != nil {
		return Upload{}, u.fail(err)
	}
	return uploadOut(pu, part), nil
}

// AppendFile adds r, the bytes of the caller's upload uploadID into their draft id from
// offset on. When the file is complete (and matches its SHA-256, if one was given), it is
// added to the parcel and returned; otherwise every byte received is kept and the
// upload's state returned, also when r fails midway (with the error). Errors: NotFound
// (also ErrNoUpload), Conflict (not a draft; another transfer appends; offset is not the
// upload's), Exist, Quota, Integrity.
func (s *Service) AppendFile(ctx context.Context, p auth.Principal, id, uploadID string, offset int64, r io.Reader) (Upload, *File, error) {
	u, err := s.ownerUploader(ctx, p, id, audit.ActParcelFile)
	if err != nil {
		return Upload{}, nil, errs.E(errs.Op("parcel.AppendFile"), err)
	}
	return s.append(ctx, u, uploadID, offset, r)
}

// AppendUpload adds r to the link holder's upload uploadID, as AppendFile does for a
// sender. Errors: those of AppendFile and Upload.
func (s *Service) AppendUpload(ctx context.Context, a Access, uploadID string, offset int64, r io.Reader) (Upload, *File, error) {
	u, err := s.recipientUploader(ctx, a, audit.ActParcelFile)
	if err != nil {
		return Upload{}, nil, err
	}
	return s.append(ctx, u, uploadID, offset, r)
}

func (s *Service) append(ctx context.Context, u uploader, id string, offset int64, r io.Reader) (Upload, *File, error) {
	pu, _, err := s.find(ctx, u, id)
	if err != nil {
		return Upload{}, nil, u.fail(err)
	}
	f := db.ParcelFile{ID: pu.FileID, ParcelID: u.p.ID, Name: pu.Name, Uploader: pu.Uploader}
	part, e, err := s.files.AppendOwned(ctx, u.p.FolderID, id, offset, r, s.publish(ctx, u.p, u.by, &f, withResult(u.rec, audit.OK)))
	if err != nil {
		return uploadOut(pu, part), nil, u.fail(err)
	}
	if e == nil {
		return uploadOut(pu, part), nil, nil
	}
	out := fileOut(f, u.p.E2E)
	return Upload{ID: id, Name: pu.Name, Offset: e.Size, Length: e.Size}, &out, nil
}

// DiscardFile cancels the caller's upload uploadID into their draft id: its bytes are
// deleted. Errors: NotFound (also ErrNoUpload), Conflict (not a draft; a transfer
// appends to it now).
func (s *Service) DiscardFile(ctx context.Context, p auth.Principal, id, uploadID string) error {
	u, err := s.ownerUploader(ctx, p, id, audit.ActParcelUploadDiscard)
	if err != nil {
		return errs.E(errs.Op("parcel.DiscardFile"), err)
	}
	return s.discard(ctx, u, uploadID)
}

// DiscardUpload cancels the link holder's upload uploadID, as DiscardFile does for a
// sender. Errors: those of DiscardFile and Upload.
func (s *Service) DiscardUpload(ctx context.Context, a Access, uploadID string) error {
	u, err := s.recipientUploader(ctx, a, audit.ActParcelUploadDiscard)
	if err != nil {
		return err
	}
	return s.discard(ctx, u, uploadID)
}

func (s *Service) discard(ctx context.Context, u uploader, id string) error {
	if _, _, err := s.find(ctx, u, id); err != nil {
		return u.fail(err)
	}
	err := s.files.DiscardOwned(ctx, u.p.FolderID, id, func(q db.Q) error {
		rec := withResult(u.rec, audit.OK)
		rec.Detail = "upload " + id
		return s.audit.AppendTx(ctx, q, rec)
	})
	if errs.Is(errs.NotFound, err) {
		err = errs.E(errs.NotFound, ErrNoUpload)
	}
	if err != nil {
		return u.fail(err)
	}
	return nil
}
