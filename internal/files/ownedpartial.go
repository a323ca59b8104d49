package files

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Partial uploads into owned folders: the uploads in pieces of partial.go for the use case
// that owns a folder (a parcel's), with the same storage, leases, expiry and integrity
// checks. Such an upload belongs to no user (its row has no user), so no user's upload
// endpoint can find, continue or discard it; these methods find it only through its
// folder. Like PutOwned they neither authorise nor audit: the owning use case does both,
// in the transactions it is handed.

// StartOwned begins an upload in pieces of the file name at the root of owned folder
// folderID: an empty partial upload, recorded with inTx (the owner's rows and audit
// record) in one transaction. opt.Length must be known; opt.Parents is ignored. Errors:
// Invalid (a bad name, length or digest), Exist (a file of that name), Quota, and those
// of inTx.
func (s *Service) StartOwned(ctx context.Context, folderID int64, name string, opt StartOptions, inTx func(q db.Q, part Partial) error) (Partial, error) {
	const op = errs.Op("files.StartOwned")
	part, err := s.startOwned(ctx, folderID, name, opt, inTx)
	if err != nil {
		return Partial{}, errs.E(op, err)
	}
	return part, nil
}

func (s *Service) startOwned(ctx context.Context, folderID int64, name string, opt StartOptions, inTx func(q db.Q, part Partial) error) (Partial, error) {
	if err := CheckName(name); err != nil {
		return Partial{}, err
	}
	if opt.Length < 0 {
		return Partial{}, errs.E(errs.Invalid, "the file's length must be known when its upload starts")
	}
	if opt.SHA256 != nil && len(opt.SHA256) != 32 {
		return Partial{}, errs.E(errs.Invalid, "the SHA-256 digest must be 32 bytes")
	}
	f, err := s.db.Q().FolderByID(ctx, folderID)
	if err != nil {
		return Partial{}, err
	}
	if f.QuotaBytes > 0 && opt.Length > f.QuotaBytes-f.UsedBytes {
		return Partial{}, quotaError(f)
	}
	id, header, state, err := s.emptyPartial(ctx)
	if err != nil {
		return Partial{}, err
	}
	l := ownedLoc(folderID, name)
	now := s.now()
	u := db.Upload{ID: string(blob.NewID()), FolderID: folderID, Path: name, VPath: l.path, BlobID: string(id),
		Length: opt.Length, WantSHA256: opt.SHA256, CryptHeader: header, HashState: state, Created: now, Expires: now.Add(s.partialTTL)}
	part := s.partial(u)
	err = s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, folderID); err != nil {
			return err
		}
		if _, err := q.LookupChild(ctx, folderID, 0, name); err == nil {
			return errs.E(errs.Exist, errs.Path(l.path), "a file of that name exists")
		} else if !errs.Is(errs.NotFound, err) {
			return err
		}
		if err := q.InsertUpload(ctx, u); err != nil {
			return err
		}
		if err := q.ClaimPending(ctx, string(id)); err != nil {
			return err
		}
		if inTx != nil {
			return inTx(q, part)
		}
		return nil
	})
	if err != nil {
		s.discard(ctx, id, true)
		return Partial{}, err
	}
	return part, nil
}

// ownedUpload returns partial upload id of owned folder folderID; a user's upload, or
// one of another folder, is NotFound.
func (s *Service) ownedUpload(ctx context.Context, folderID int64, id string) (db.Upload, error) {
	u, err := s.db.Q().UploadByID(ctx, id)
	if err == nil && (u.UserID != 0 || u.FolderID != folderID) {
		err = errs.E(errs.NotFound, "")
	}
	if errs.Is(errs.NotFound, err) {
		return db.Upload{}, errs.E(errs.NotFound, "no such upload: it was completed, cancelled or expired, or the id is wrong")
	}
	return u, err
}

// OwnedPartial returns partial upload id of owned folder folderID. Errors: NotFound.
func (s *Service) OwnedPartial(ctx context.Context, folderID int64, id string) (Partial, error) {
	u, err := s.ownedUpload(ctx, folderID, id)
	if err != nil {
		return Partial{}, errs.E(errs.Op("files.OwnedPartial"), err)
	}
	return s.partial(u), nil
}

// AppendOwned adds r, the bytes of partial upload id of owned folder folderID from offset
// on, to it, as Append does for a user's. When they complete its length (and match its
// digest, if one was given), the file is published under the name given to StartOwned,
// with publish run in the transaction that makes it visible, and returned; otherwise every
// byte received is kept and the new state returned, also when r fails midway (the error
// is then returned too). Errors: NotFound, Conflict (another transfer appends to it, or
// offset is not its size), Exist, Quota, Integrity, Canceled, and those of publish.
func (s *Service) AppendOwned(ctx context.Context, folderID int64, id string, offset int64, r io.Reader, publish func(q db.Q, e Entry) error) (Partial, *Entry, error) {
	const op = errs.Op("files.AppendOwned")
	u, err := s.ownedUpload(ctx, folderID, id)
	if err != nil {
		return Partial{}, nil, errs.E(op, err)
	}
	e, err := s.appendOwned(ctx, u, offset, r, publish)
	var short *shortError
	switch {
	case errors.As(err, &short):
		return short.kept, nil, nil
	case err != nil:
		if cur, cerr := s.ownedUpload(ctx, folderID, id); cerr == nil {
			return s.partial(cur), nil, errs.E(op, err)
		}
		return Partial{}, nil, errs.E(op, err)
	}
	return Partial{}, &e, nil
}

func (s *Service) appendOwned(ctx context.Context, u db.Upload, offset int64, r io.Reader, publish func(q db.Q, e Entry) error) (Entry, error) {
	l := ownedLoc(u.FolderID, u.Path)
	u, err := s.lease(ctx, u, l, offset)
	if err != nil {
		return Entry{}, err
	}
	release := func() {
		if err := s.db.Q().RenewUpload(context.WithoutCancel(ctx), u.ID, time.Time{}); err != nil {
			s.log.Warn("cannot release a partial upload; it is free again within two minutes", "path", l.path, "err", err)
		}
	}
	f, err := s.db.Q().FolderByID(ctx, u.FolderID)
	if err != nil {
		release()
		return Entry{}, err
	}
	if f.QuotaBytes > 0 {
		// The partial upload is charged already: the room is for the rest.
		qr, err := s.limitToRoom(r, f, f.QuotaBytes-f.UsedBytes, u.Length-offset)
		if err != nil {
			release()
			return Entry{}, err
		}
		defer qr.done()
		r = qr
	}
	id := blob.NewID()
	if err := s.db.Q().AddPending(ctx, string(id)); err != nil {
		release()
		return Entry{}, err
	}
	stop := s.holdLease(ctx, u.ID)
	st, err := s.store(ctx, id, r, u.Length, &u, true, false)
	stop()
	if err != nil {
		if st != nil && (interrupted(err) || errors.Is(err, errShort)) {
			kept, kerr := s.keepPartial(ctx, auth.Principal{}, l, st, id, &u, CreateOptions{})
			switch {
			case kerr == nil && errors.Is(err, errShort):
				return Entry{}, &shortError{kept}
			case kerr == nil:
				return Entry{}, fmt.Errorf("%w; the %d bytes received were kept: resume the upload from there before %s",
					err, kept.Size, kept.Expires.UTC().Format(time.RFC3339))
			case errs.Is(errs.Conflict, kerr):
				return Entry{}, kerr
			}
			release()
			return Entry{}, err
		}
		if st != nil {
			st.w.Abort()
		}
		s.discard(ctx, id, false)
		release()
		return Entry{}, err
	}
	sum := st.h.Sum(nil)
	if u.WantSHA256 != nil && !bytes.Equal(sum, u.WantSHA256) {
		s.discard(ctx, id, true)
		release()
		return Entry{}, errs.E(errs.Integrity, fmt.Sprintf("the content's SHA-256 is %s, not the %s announced: the upload was corrupted; send it again",
			hex.EncodeToString(sum), hex.EncodeToString(u.WantSHA256)))
	}
	if !st.whole {
		stop := s.holdLease(ctx, u.ID) // copying a large file may outlast one lease
		id, err = s.concat(ctx, u, st, id)
		stop()
		if err != nil {
			release()
			return Entry{}, err
		}
	}
	var out Entry
	var garbage []string
	ctx = context.WithoutCancel(ctx) // stored: a client that leaves must not undo a commit
	err = s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, u.FolderID); err != nil {
			return err
		}
		var err error
		if garbage, err = s.dropOwned(ctx, q, u); err != nil {
			return err
		}
		out, err = s.publishOwned(ctx, q, u.FolderID, u.Path, st, id, sum, publish)
		return err
	})
	if err != nil {
		s.discard(ctx, id, true)
		release()
		return Entry{}, err
	}
	s.collect(ctx, garbage)
	return out, nil
}

// dropOwned deletes partial upload u in a transaction that holds its folder's lock: its
// bytes are credited to the folder and its blobs become garbage, returned to collect
// after the commit. Errors: NotFound (it is gone), Conflict (another transfer continued
// it since u was read).
func (s *Service) dropOwned(ctx context.Context, q db.Q, u db.Upload) ([]string, error) {
	if _, err := current(ctx, q, u); err != nil {
		return nil, err
	}
	ids, err := s.dropUpload(ctx, q, u)
	if err != nil {
		return nil, err
	}
	return ids, s.charge(ctx, q, u.FolderID, -u.Size)
}

// DiscardOwned deletes partial upload id of owned folder folderID, with inTx (the owner's
// rows and audit record) in the same transaction. Errors: NotFound, Conflict while a
// transfer appends to it.
func (s *Service) DiscardOwned(ctx context.Context, folderID int64, id string, inTx func(q db.Q) error) error {
	const op = errs.Op("files.DiscardOwned")
	u, err := s.ownedUpload(ctx, folderID, id)
	if err != nil {
		return errs.E(op, err)
	}
	var garbage []string
	err = s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, folderID); err != nil {
			return err
		}
		cur, err := q.UploadByID(ctx, u.ID)
		if err == nil && cur.LeaseUntil.After(s.now()) {
			err = errs.E(errs.Conflict, "the upload is being received right now: stop that transfer first, or try again in a minute")
		}
		if errs.Is(errs.NotFound, err) {
			err = errs.E(errs.NotFound, "no such upload: it was completed, cancelled or expired")
		}
		if err != nil {
			return err
		}
		u = cur
		if garbage, err = s.dropOwned(ctx, q, u); err != nil {
			return err
		}
		if inTx != nil {
			return inTx(q)
		}
		return nil
	})
	if err != nil {
		return errs.E(op, err)
	}
	s.collect(ctx, garbage)
	return nil
}
