package files

import (
	"context"
	"encoding"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Partial uploads (docs/format.md, "Partial uploads"). When a resumable upload is cut off
// (the client went away, the server shut down), every byte it received stays stored as a
// partial upload of that user at that path (the sealed 64 KiB chunks in a blob, the rest
// sealed in the row): never visible as a file, not readable, charged to the folder's
// quota, and continued only by the same user with CreateOptions.Resume. Continuing copies the stored ciphertext into a new blob and
// appends to it, so a file is always one blob.

// DefaultPartialTTL is how long a partial upload waits to be continued.
const DefaultPartialTTL = 24 * time.Hour

// Partial describes a partial upload to its owner.
type Partial struct {
	Path    string
	Size    int64 // bytes stored: resume from here
	Created time.Time
	Expires time.Time
}

// SetPartialTTL sets how long partial uploads are kept (DefaultPartialTTL if d <= 0).
// Call it before the Service is used.
func (s *Service) SetPartialTTL(d time.Duration) {
	if d <= 0 {
		d = DefaultPartialTTL
	}
	s.partialTTL = d
}

// PartialAt returns the caller's partial upload at path. Errors: NotFound when there is
// none, and those of Stat for the path itself.
func (s *Service) PartialAt(ctx context.Context, p auth.Principal, path string) (Partial, error) {
	_, l, err := s.begin(ctx, p, path)
	if err != nil {
		return Partial{}, err
	}
	if l.isRoot() || l.isMount() {
		return Partial{}, errs.E(errs.NotFound, errs.Path(l.path), "no partial upload here")
	}
	u, err := s.db.Q().UploadAt(ctx, p.UserID, l.folder.ID, partialKey(l))
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			return Partial{}, errs.E(errs.NotFound, errs.Path(l.path), "no partial upload here")
		}
		return Partial{}, err
	}
	return Partial{Path: l.path, Size: u.Size, Created: stored(u.Created), Expires: stored(u.Expires)}, nil
}

// partialKey is the path of a partial upload inside its folder.
func partialKey(l loc) string { return strings.Join(l.rel, "/") }

// claimPartial takes the caller's partial upload at l for continuing at offset: its row
// goes, its bytes are credited back to the folder (the new upload is charged for the
// whole file), and its blob becomes pending, so that a crash from here on loses it rather
// than leaks it. Only one session can claim a partial upload.
func (s *Service) claimPartial(ctx context.Context, p auth.Principal, l loc, offset int64) (db.Upload, error) {
	var u db.Upload
	err := s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, l.folder.ID); err != nil {
			return err
		}
		var err error
		u, err = q.UploadAt(ctx, p.UserID, l.folder.ID, partialKey(l))
		if errs.Is(errs.NotFound, err) {
			return errs.E(errs.NotFound, errs.Path(l.path), "there is no partial upload to resume here (it was completed, discarded, expired, or is being resumed by another session): upload the whole file")
		}
		if err != nil {
			return err
		}
		if u.Size != offset {
			return errs.E(errs.Invalid, errs.Path(l.path), fmt.Sprintf("the partial upload holds %d bytes, so resume at byte %d, not %d", u.Size, u.Size, offset))
		}
		if err := q.DeleteUpload(ctx, u.ID); err != nil {
			return err
		}
		if err := q.AddPending(ctx, u.BlobID); err != nil {
			return err
		}
		return s.charge(ctx, q, l.folder.ID, -u.Size)
	})
	return u, err
}

// resumeFrom starts the payload of a continued upload in w: the stored payload of u, then a
// writer for the rest, with h restored to the digest state after u's bytes.
func (s *Service) resumeFrom(ctx context.Context, u db.Upload, w io.Writer, h hash.Hash) (*crypt.Writer, error) {
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return nil, errs.E(errs.Integrity, fmt.Errorf("the partial upload's digest state is damaged: %w", err))
	}
	obj, err := s.blobs.Open(ctx, blob.ID(u.BlobID))
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	sealed := u.Size - crypt.TailSize(u.Tail)
	want := crypt.SealedPayloadSize(sealed)
	if sealed < 0 || obj.Size() != want {
		return nil, errs.E(errs.Integrity, fmt.Sprintf("the partial upload's stored data is %d bytes, not %d", obj.Size(), want))
	}
	nonce := make([]byte, crypt.NonceSize)
	if _, err := obj.ReadAt(nonce, 0); err != nil {
		return nil, err
	}
	buf := make([]byte, blob.CopyBufferSize)
	if _, err := io.CopyBuffer(w, io.NewSectionReader(obj, 0, want), buf); err != nil {
		return nil, err
	}
	return s.keys.Continue(u.CryptHeader, nonce, sealed, u.Tail, w, h)
}

// keepPartial stores what an interrupted upload sealed as the caller's partial upload at
// l, replacing any other one there. It returns the bytes kept, or 0 when nothing was
// worth keeping or it could not be kept (then the blob is discarded).
func (s *Service) keepPartial(ctx context.Context, p auth.Principal, l loc, w blob.Writer, id blob.ID, header []byte, enc *crypt.Writer, h hash.Hash) int64 {
	ctx = context.WithoutCancel(ctx)
	size := enc.Sealed() + int64(enc.Pending())
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if size == 0 || err != nil {
		w.Abort()
		s.discard(ctx, id, false)
		return 0
	}
	if err := w.Commit(); err != nil {
		s.log.Warn("cannot keep a partial upload", "path", l.path, "err", err)
		s.discard(ctx, id, true)
		return 0
	}
	now := s.now()
	u := db.Upload{ID: string(blob.NewID()), UserID: p.UserID, FolderID: l.folder.ID, Path: partialKey(l), BlobID: string(id),
		Size: size, CryptHeader: header, HashState: state, Tail: enc.SealTail(), Created: now, Expires: now.Add(s.partialTTL)}
	var garbage []string
	err = s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, l.folder.ID); err != nil {
			return err
		}
		old, err := s.dropPartial(ctx, q, p.UserID, l)
		if err != nil {
			return err
		}
		garbage = old
		if err := s.charge(ctx, q, l.folder.ID, size); err != nil {
			return err
		}
		if err := q.InsertUpload(ctx, u); err != nil {
			return err
		}
		return q.ClaimPending(ctx, string(id))
	})
	if err != nil {
		s.log.Warn("cannot keep a partial upload", "path", l.path, "err", err)
		s.discard(ctx, id, true)
		return 0
	}
	s.collect(ctx, garbage)
	return size
}

// dropPartial removes, inside a transaction, the partial upload of userID at l if there is
// one: its bytes are credited to the folder and its blob becomes garbage, returned for
// collect after the commit.
func (s *Service) dropPartial(ctx context.Context, q db.Q, userID int64, l loc) ([]string, error) {
	u, err := q.UploadAt(ctx, userID, l.folder.ID, partialKey(l))
	if errs.Is(errs.NotFound, err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := q.DeleteUpload(ctx, u.ID); err != nil {
		return nil, err
	}
	if err := q.AddGarbage(ctx, u.BlobID); err != nil {
		return nil, err
	}
	if err := s.charge(ctx, q, l.folder.ID, -u.Size); err != nil {
		return nil, err
	}
	return []string{u.BlobID}, nil
}

// DiscardPartial deletes the caller's partial upload at path. Errors: NotFound.
func (s *Service) DiscardPartial(ctx context.Context, p auth.Principal, path string) error {
	const op = errs.Op("files.DiscardPartial")
	_, l, err := s.begin(ctx, p, path)
	if err == nil && (l.isRoot() || l.isMount()) {
		err = errs.E(errs.NotFound, errs.Path(l.path), "no partial upload here")
	}
	var garbage []string
	if err == nil {
		err = s.db.Tx(ctx, func(q db.Q) error {
			if err := lockFolders(ctx, q, l.folder.ID); err != nil {
				return err
			}
			garbage, err = s.dropPartial(ctx, q, p.UserID, l)
			if err == nil && garbage == nil {
				err = errs.E(errs.NotFound, errs.Path(l.path), "no partial upload here")
			}
			if err != nil {
				return err
			}
			rec := record(p, audit.ActUploadDiscard, l.path)
			rec.Result = audit.OK
			return s.audit.AppendTx(ctx, q, rec)
		})
	}
	if err != nil {
		return s.fail(ctx, p, audit.ActUploadDiscard, path, errs.E(op, err))
	}
	s.collect(ctx, garbage)
	return nil
}

// expirePartials deletes partial uploads past their expiry; it returns how many.
func (s *Service) expirePartials(ctx context.Context) (int, error) {
	n := 0
	for {
		ups, err := s.db.Q().UploadsExpired(ctx, s.now(), 100)
		if err != nil || len(ups) == 0 {
			return n, err
		}
		for _, u := range ups {
			err := s.db.Tx(ctx, func(q db.Q) error {
				if err := lockFolders(ctx, q, u.FolderID); err != nil {
					return err
				}
				if err := q.DeleteUpload(ctx, u.ID); err != nil {
					return err // NotFound: resumed or discarded meanwhile
				}
				if err := q.AddGarbage(ctx, u.BlobID); err != nil {
					return err
				}
				if err := s.charge(ctx, q, u.FolderID, -u.Size); err != nil {
					return err
				}
				return s.audit.AppendTx(ctx, q, audit.Record{Actor: "coffer", Protocol: audit.System, Action: audit.ActUploadExpire,
					Result: audit.OK, Bytes: u.Size, Detail: fmt.Sprintf("user %d, folder %d, path %q, created %s", u.UserID, u.FolderID, u.Path, u.Created.UTC().Format(time.RFC3339))})
			})
			if err != nil && !errs.Is(errs.NotFound, err) {
				return n, err
			}
			if err == nil {
				n++
				s.collect(ctx, []string{u.BlobID})
			}
		}
	}
}
