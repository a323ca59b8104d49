package files

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Owned folders hold the files of another use case (a parcel's, docs/parcels.md) with the
// same at-rest encryption, durability and integrity checks as users' files, in a folder
// that appears in nobody's tree. These methods neither authorise nor audit: the use case
// that owns the folder does both, in the transaction that PutOwned hands it. Only flat
// folders: names are single components, chosen by the owning use case, never by clients.

// OwnedPut qualifies PutOwned.
type OwnedPut struct {
	Size   int64  // the content's length, or -1 if unknown
	SHA256 []byte // if set, the content must have this digest
	// Publish runs in the transaction that makes the file visible, after its entry is
	// inserted and its size charged to the folder's quota: the owner's own rows and audit
	// record commit with the file, or neither does. An error undoes both.
	Publish func(q db.Q, e Entry) error
}

// PutOwned stores r as the file name at the root of an owned folder. Errors: Invalid (a
// bad name or digest), Exist (the name is taken), Quota, Integrity (size or digest
// mismatch), Canceled and errors wrapping ErrBodyRead, and those of Publish.
func (s *Service) PutOwned(ctx context.Context, folderID int64, name string, r io.Reader, opt OwnedPut) (Entry, error) {
	const op = errs.Op("files.PutOwned")
	if err := CheckName(name); err != nil {
		return Entry{}, errs.E(op, err)
	}
	if opt.SHA256 != nil && len(opt.SHA256) != 32 {
		return Entry{}, errs.E(op, errs.Invalid, "the SHA-256 digest must be 32 bytes")
	}
	q := s.db.Q()
	f, err := q.FolderByID(ctx, folderID)
	if err != nil {
		return Entry{}, errs.E(op, err)
	}
	if f.QuotaBytes > 0 {
		qr, err := s.limitToRoom(r, f, f.QuotaBytes-f.UsedBytes, opt.Size)
		if err != nil {
			return Entry{}, errs.E(op, err)
		}
		defer qr.done()
		r = qr
	}
	id := blob.NewID()
	if err := q.AddPending(ctx, string(id)); err != nil {
		return Entry{}, errs.E(op, err)
	}
	st, err := s.store(ctx, id, r, opt.Size, nil, false, false)
	if err != nil {
		if st != nil {
			st.w.Abort()
		}
		s.discard(ctx, id, false)
		return Entry{}, errs.E(op, err)
	}
	sum := st.h.Sum(nil)
	if opt.SHA256 != nil && !bytes.Equal(sum, opt.SHA256) {
		s.discard(ctx, id, true)
		return Entry{}, errs.E(op, errs.Integrity, fmt.Sprintf("the content's SHA-256 is %s, not the %s announced: the upload was corrupted; send it again",
			hex.EncodeToString(sum), hex.EncodeToString(opt.SHA256)))
	}
	var out Entry
	ctx = context.WithoutCancel(ctx) // stored: a client that leaves must not undo a commit
	err = s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, folderID); err != nil {
			return err
		}
		var err error
		out, err = s.publishOwned(ctx, q, folderID, name, st, id, sum, opt.Publish)
		return err
	})
	if err != nil {
		s.discard(ctx, id, true)
		return Entry{}, errs.E(op, err)
	}
	return out, nil
}

// publishOwned makes st, stored in blob id, the file name of an owned folder, inside a
// transaction that holds the folder's lock, and runs publish there.
func (s *Service) publishOwned(ctx context.Context, q db.Q, folderID int64, name string, st *staged, id blob.ID, sum []byte, publish func(db.Q, Entry) error) (Entry, error) {
	now := s.now()
	l := ownedLoc(folderID, name)
	if _, err := q.LookupChild(ctx, folderID, 0, name); err == nil {
		return Entry{}, errs.E(errs.Exist, errs.Path(l.path), "a file of that name exists")
	} else if !errs.Is(errs.NotFound, err) {
		return Entry{}, err
	}
	if err := s.charge(ctx, q, folderID, st.n); err != nil {
		return Entry{}, err
	}
	de, err := q.InsertEntry(ctx, db.Entry{FolderID: folderID, Name: name, Size: st.n, SHA256: sum,
		BlobID: string(id), CryptHeader: st.header, Created: now, Modified: now})
	if err != nil {
		return Entry{}, err
	}
	if err := s.claim(ctx, q, st, id); err != nil {
		return Entry{}, err
	}
	out := s.entry(l, de, 0)
	if publish != nil {
		return out, publish(q, out)
	}
	return out, nil
}

// ownedLoc is the location of the file name at the root of owned folder folderID.
func ownedLoc(folderID int64, name string) loc {
	return loc{path: Join(name), rel: []string{name}, folder: authz.Folder{ID: folderID}}
}

// OpenOwned opens the file name of an owned folder for reading. done is called once, by
// Reader.Close, with the bytes read and the failure given to CloseWith (nil if none): the
// owner audits the download there. Errors: NotFound, Integrity.
func (s *Service) OpenOwned(ctx context.Context, folderID int64, name string, done func(n int64, failure error)) (*Reader, error) {
	const op = errs.Op("files.OpenOwned")
	e, err := s.db.Q().LookupChild(ctx, folderID, 0, name)
	if err != nil || e.IsDir {
		if err == nil || errs.Is(errs.NotFound, err) {
			err = errs.E(errs.NotFound, "no such file")
		}
		return nil, errs.E(op, err)
	}
	l := ownedLoc(folderID, name)
	r, err := s.openEntry(ctx, l, e)
	if err != nil {
		return nil, errs.E(op, err)
	}
	r.Entry, r.done = s.entry(l, e, 0), done
	return r, nil
}

// EmptyOwned deletes every file of an owned folder. inTx runs in the same transaction
// (the owner records that the contents are gone, and audits it). The blobs are deleted
// after the commit, or by the next garbage collection.
func (s *Service) EmptyOwned(ctx context.Context, folderID int64, inTx func(q db.Q) error) error {
	const op = errs.Op("files.EmptyOwned")
	var garbage []string
	err := s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, folderID); err != nil {
			return err
		}
		ids, err := q.FolderBlobIDs(ctx, folderID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := q.AddGarbage(ctx, id); err != nil {
				return err
			}
		}
		if err := q.EmptyFolder(ctx, folderID); err != nil {
			return err
		}
		garbage = ids
		return inTx(q)
	})
	if err != nil {
		return errs.E(op, err)
	}
	s.collect(ctx, garbage)
	return nil
}
