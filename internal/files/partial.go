package files

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
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
	ID      string
	Path    string
	Size    int64 // bytes stored: resume from here
	Length  int64 // the whole file's announced size, or -1
	Created time.Time
	Expires time.Time
	Busy    bool // a transfer is appending to it now
}

// DefaultUploadLease is how long a transfer holds a partial upload without renewing it.
const DefaultUploadLease = 30 * time.Second

// SetUploadLease sets how long a transfer that appends to a partial upload holds it
// without renewing (DefaultUploadLease if d <= 0); it renews every third of that, so that
// no other transfer appends at the same time. A node that dies holding one frees it when
// the lease runs out: that is how long its client waits to resume on another node. Call
// it before the Service is used.
func (s *Service) SetUploadLease(d time.Duration) {
	if d <= 0 {
		d = DefaultUploadLease
	}
	s.uploadLease = d
}

// SetPartialTTL sets how long partial uploads are kept (DefaultPartialTTL if d <= 0).
// Call it before the Service is used.
func (s *Service) SetPartialTTL(d time.Duration) {
	if d <= 0 {
		d = DefaultPartialTTL
	}
	s.partialTTL = d
}

func (s *Service) partial(u db.Upload) Partial {
	return Partial{ID: u.ID, Path: u.VPath, Size: u.Size, Length: u.Length, Created: stored(u.Created),
		Expires: stored(u.Expires), Busy: u.LeaseUntil.After(s.now())}
}

// PartialAt returns the caller's partial upload at path. Errors: NotFound when there is
// none, and those of Stat for the path itself.
func (s *Service) PartialAt(ctx context.Context, p auth.Principal, path string) (Partial, error) {
	_, l, err := s.begin(ctx, p, path)
	if err != nil {
		return Partial{}, err
	}
	return s.partialAt(ctx, p, l)
}

// partialAt is PartialAt of l.
func (s *Service) partialAt(ctx context.Context, p auth.Principal, l loc) (Partial, error) {
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
	return s.partial(u), nil
}

// PartialByID returns the caller's partial upload id. Errors: NotFound when there is none
// (or it is someone else's).
func (s *Service) PartialByID(ctx context.Context, p auth.Principal, id string) (Partial, error) {
	if _, err := s.view(ctx, p); err != nil {
		return Partial{}, err
	}
	u, err := s.uploadOf(ctx, p, id)
	if err != nil {
		return Partial{}, err
	}
	return s.partial(u), nil
}

// uploadOf returns the caller's partial upload id; another user's is NotFound.
func (s *Service) uploadOf(ctx context.Context, p auth.Principal, id string) (db.Upload, error) {
	u, err := s.db.Q().UploadByID(ctx, id)
	if err == nil && u.UserID != p.UserID {
		err = errs.E(errs.NotFound, "")
	}
	if errs.Is(errs.NotFound, err) {
		return db.Upload{}, errs.E(errs.NotFound, "no such upload: it was completed, cancelled or expired, or the id is wrong")
	}
	return u, err
}

// partialKey is the path of a partial upload inside its folder.
func partialKey(l loc) string { return strings.Join(l.rel, "/") }

// StartOptions qualify StartUpload.
type StartOptions struct {
	Length  int64  // the whole file's size, or -1 if not known yet
	SHA256  []byte // the whole file's digest, checked at completion, if given
	Parents bool   // make missing parent directories at completion
}

// StartUpload begins an upload to path that arrives in pieces (Append), possibly over
// several connections and days: an empty partial upload, replacing any other of the
// caller's at path. Errors: those of Create that can be known before the content.
func (s *Service) StartUpload(ctx context.Context, p auth.Principal, path string, opt StartOptions) (Partial, error) {
	const op = errs.Op("files.StartUpload")
	part, err := s.startUpload(ctx, p, path, opt)
	if err != nil {
		return Partial{}, s.fail(ctx, p, audit.ActUploadStart, path, errs.E(op, err))
	}
	return part, nil
}

func (s *Service) startUpload(ctx context.Context, p auth.Principal, path string, opt StartOptions) (Partial, error) {
	if opt.Length < -1 {
		return Partial{}, errs.E(errs.Invalid, "the length must be -1 (unknown) or more")
	}
	_, l, replaced, err := s.writable(ctx, p, path, opt.SHA256, opt.Parents)
	if err != nil {
		return Partial{}, err
	}
	q := s.db.Q()
	f, err := q.FolderByID(ctx, l.folder.ID)
	if err != nil {
		return Partial{}, err
	}
	if f.QuotaBytes > 0 && opt.Length > f.QuotaBytes-f.UsedBytes+replaced {
		return Partial{}, quotaError(f)
	}
	id, header, state, err := s.emptyPartial(ctx)
	if err != nil {
		return Partial{}, err
	}
	now := s.now()
	u := db.Upload{ID: string(blob.NewID()), UserID: p.UserID, FolderID: l.folder.ID, Path: partialKey(l), VPath: l.path,
		BlobID: string(id), Length: opt.Length, WantSHA256: opt.SHA256, CryptHeader: header, HashState: state,
		Created: now, Expires: now.Add(s.partialTTL)}
	var garbage []string
	err = s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, l.folder.ID); err != nil {
			return err
		}
		var err error
		if garbage, err = s.dropPartial(ctx, q, p.UserID, l); err != nil {
			return err
		}
		if err := q.InsertUpload(ctx, u); err != nil {
			return err
		}
		if err := q.ClaimPending(ctx, string(id)); err != nil {
			return err
		}
		rec := record(p, audit.ActUploadStart, l.path)
		rec.Result, rec.Bytes = audit.OK, max(opt.Length, 0)
		return s.audit.AppendTx(ctx, q, rec)
	})
	if err != nil {
		s.discard(ctx, id, true)
		return Partial{}, err
	}
	s.collect(ctx, garbage)
	return s.partial(u), nil
}

// emptyPartial stores the blob of an empty partial upload, recorded as pending: the
// payload's first 16 bytes (its nonce) are all of it. It returns the blob, the crypt header
// and the digest state of no bytes.
func (s *Service) emptyPartial(ctx context.Context) (blob.ID, []byte, []byte, error) {
	id := blob.NewID()
	if err := s.db.Q().AddPending(ctx, string(id)); err != nil {
		return "", nil, nil, err
	}
	w, err := s.blobs.Create(ctx, id)
	if err != nil {
		s.discard(ctx, id, false)
		return "", nil, nil, err
	}
	h := sha256.New()
	header, _, err := s.keys.Encrypt(w, h)
	if err == nil {
		err = w.Commit()
	} else {
		w.Abort()
	}
	if err != nil {
		s.discard(ctx, id, false)
		return "", nil, nil, err
	}
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		s.discard(ctx, id, true)
		return "", nil, nil, err
	}
	return id, header, state, nil
}

// Append adds r, the bytes of the caller's partial upload id from offset on, to it. When
// they complete its announced length, the file is published as by Create and returned;
// otherwise every byte received is kept and the partial upload's new state is returned,
// also when r fails midway (the error is then returned too). Errors: NotFound (no such
// upload of the caller's), Conflict (another transfer is appending to it, or offset is
// not its size), those of Create.
func (s *Service) Append(ctx context.Context, p auth.Principal, id string, offset int64, r io.Reader) (Partial, *Entry, error) {
	const op = errs.Op("files.Append")
	u, err := s.uploadOf(ctx, p, id)
	if err != nil {
		return Partial{}, nil, errs.E(op, err)
	}
	e, err := s.create(ctx, p, u.VPath, r, CreateOptions{Size: -1, Resumable: true, Parents: true, Offset: offset, uploadID: id, piece: u.Length >= 0})
	var short *shortError
	if errors.As(err, &short) {
		return short.kept, nil, nil
	}
	if err != nil {
		err = s.fail(ctx, p, audit.ActFileUpload, u.VPath, errs.E(op, err))
		if part, perr := s.uploadOf(ctx, p, id); perr == nil {
			return s.partial(part), nil, err
		}
		return Partial{}, nil, err
	}
	return Partial{}, &e, nil
}

// DiscardUpload deletes the caller's partial upload id. Errors: NotFound, Conflict while
// a transfer appends to it.
func (s *Service) DiscardUpload(ctx context.Context, p auth.Principal, id string) error {
	u, err := s.uploadOf(ctx, p, id)
	if err != nil {
		return s.fail(ctx, p, audit.ActUploadDiscard, "", errs.E(errs.Op("files.DiscardUpload"), err))
	}
	return s.DiscardPartial(ctx, p, u.VPath)
}

// errShort is store's error for a piece that ended before the file's length.
var errShort = errors.New("the body ended before the file's announced length")

// shortError is create's outcome for a piece kept as the partial upload's new state.
type shortError struct{ kept Partial }

func (e *shortError) Error() string {
	return fmt.Sprintf("%d of %d bytes received", e.kept.Size, e.kept.Length)
}

// leasePartial takes the caller's partial upload at l (by id, or at the path) for
// appending at opt.Offset. Only one transfer at a time holds it.
func (s *Service) leasePartial(ctx context.Context, p auth.Principal, l loc, opt CreateOptions) (db.Upload, error) {
	q := s.db.Q()
	var u db.Upload
	var err error
	if opt.uploadID != "" {
		u, err = s.uploadOf(ctx, p, opt.uploadID)
		if err == nil && (u.FolderID != l.folder.ID || u.Path != partialKey(l)) {
			return db.Upload{}, errs.E(errs.NotFound, errs.Path(l.path), "the upload's folder was renamed or is no longer shared with you: start the upload again")
		}
	} else {
		u, err = q.UploadAt(ctx, p.UserID, l.folder.ID, partialKey(l))
		if errs.Is(errs.NotFound, err) {
			return db.Upload{}, errs.E(errs.NotFound, errs.Path(l.path), "there is no partial upload to resume here (it was completed, discarded or expired): upload the whole file")
		}
	}
	if err != nil {
		return db.Upload{}, err
	}
	return s.lease(ctx, u, l, opt.Offset)
}

// lease takes partial upload u (at l) for appending at offset, and returns its state as
// of the lease. Errors: Conflict (another transfer holds it, or offset is not its size).
func (s *Service) lease(ctx context.Context, u db.Upload, l loc, offset int64) (db.Upload, error) {
	q := s.db.Q()
	now := s.now()
	if err := q.LeaseUpload(ctx, u.ID, now, now.Add(s.uploadLease)); err != nil {
		if errs.Is(errs.Conflict, err) {
			return db.Upload{}, errs.E(errs.Conflict, errs.Path(l.path), "the upload is being received on another connection (perhaps one that broke and that the server has not noticed yet): try again in a minute")
		}
		return db.Upload{}, err
	}
	if u.Size != offset {
		q.RenewUpload(context.WithoutCancel(ctx), u.ID, time.Time{})
		return db.Upload{}, errs.E(errs.Conflict, errs.Path(l.path), fmt.Sprintf("the partial upload holds %d bytes, so resume at byte %d, not %d", u.Size, u.Size, offset))
	}
	return u, nil
}

// holdLease renews the lease of partial upload id until the returned stop is called.
func (s *Service) holdLease(ctx context.Context, id string) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(s.uploadLease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := s.db.Q().RenewUpload(context.WithoutCancel(ctx), id, s.now().Add(s.uploadLease)); err != nil {
					s.log.Warn("cannot renew the lease of a partial upload", "upload", id, "err", err)
				}
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// resumeFrom returns a writer that continues the payload of partial upload u into w,
// with h restored to the digest state after u's bytes, and u's segments. What w holds
// then depends on the transfer:
//   - whole (w starts with everything u stored, copied, as the new blob of u or of the
//     file): when the transfer is meant to complete the file (wantWhole: an SFTP or HTTP
//     resume sends the rest), or when u has stored no chunk yet (a tus upload's first
//     piece, often its only one), so that a file completed now is published as is;
//   - otherwise only the chunks sealed from now on: the next segment of u, or, when this
//     piece completes the file, its last part for concat. Nothing stored is copied until
//     then, so that an upload sent in many pieces costs its size, not its size times the
//     number of pieces.
func (s *Service) resumeFrom(ctx context.Context, u db.Upload, w io.Writer, h hash.Hash, wantWhole bool) (enc *crypt.Writer, segs []db.UploadSegment, whole bool, err error) {
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return nil, nil, false, errs.E(errs.Integrity, fmt.Errorf("the partial upload's digest state is damaged: %w", err))
	}
	if segs, err = s.db.Q().UploadSegments(ctx, u.ID); err != nil {
		return nil, nil, false, err
	}
	obj, err := s.blobs.Open(ctx, blob.ID(u.BlobID))
	if err != nil {
		return nil, nil, false, err
	}
	defer obj.Close()
	sealed := u.Size - crypt.TailSize(u.Tail)
	stored := obj.Size()
	for _, g := range segs {
		stored += g.Size
	}
	if want := crypt.SealedPayloadSize(sealed); sealed < 0 || stored != want {
		return nil, nil, false, errs.E(errs.Integrity, fmt.Sprintf("the partial upload's stored data is %d bytes, not %d", stored, want))
	}
	nonce := make([]byte, crypt.NonceSize)
	if _, err := obj.ReadAt(nonce, 0); err != nil {
		return nil, nil, false, err
	}
	if whole = wantWhole || sealed == 0; whole {
		buf := s.copyBuffer()
		defer s.bufs.Put(buf)
		for _, g := range payloadBlobs(u, segs) {
			if _, err := s.copyBlob(ctx, w, g, *buf); err != nil {
				return nil, nil, false, err
			}
		}
	}
	enc, err = s.keys.Continue(u.CryptHeader, nonce, sealed, u.Tail, w, h)
	return enc, segs, whole, err
}

// payloadBlobs lists the blobs that hold partial upload u's stored payload, in order:
// its own, then segs. Size -1: its own blob's size is not recorded.
func payloadBlobs(u db.Upload, segs []db.UploadSegment) []db.UploadSegment {
	return append([]db.UploadSegment{{BlobID: u.BlobID, Size: -1}}, segs...)
}

// concat makes the blob of a completed upload that resumed partial upload u: u's blob,
// its segments as of the resume (st.segs), then piece, the chunks of the last transfer,
// which is deleted. It returns the new blob's id, recorded as pending. On error nothing
// new is left and u is as it was.
func (s *Service) concat(ctx context.Context, u db.Upload, st *staged, piece blob.ID) (blob.ID, error) {
	ctx = context.WithoutCancel(ctx) // the whole body is here: finish it
	defer s.discard(ctx, piece, true)
	parts := append(payloadBlobs(u, st.segs), db.UploadSegment{BlobID: string(piece), Size: -1})
	id := blob.NewID()
	if err := s.db.Q().AddPending(ctx, string(id)); err != nil {
		return "", err
	}
	w, err := s.blobs.Create(ctx, id)
	if err != nil {
		s.discard(ctx, id, false)
		return "", err
	}
	bp := s.copyBuffer()
	defer s.bufs.Put(bp)
	var n int64
	for _, g := range parts {
		m, err := s.copyBlob(ctx, w, g, *bp)
		n += m
		if err != nil {
			w.Abort()
			s.discard(ctx, id, false)
			if _, uerr := current(ctx, s.db.Q(), u); uerr != nil {
				return "", uerr // a piece went with the upload, discarded or taken over meanwhile
			}
			return "", err
		}
	}
	if want := crypt.PayloadSize(st.n); n != want {
		w.Abort()
		s.discard(ctx, id, false)
		return "", errs.E(errs.Integrity, fmt.Sprintf("the upload's stored pieces hold %d bytes, not the %d of its %d-byte file", n, want, st.n))
	}
	if err := w.Commit(); err != nil {
		s.discard(ctx, id, true)
		return "", err
	}
	return id, nil
}

// copyBlob appends blob g to w; g.Size, unless negative, is the size it must have.
func (s *Service) copyBlob(ctx context.Context, w io.Writer, g db.UploadSegment, buf []byte) (int64, error) {
	obj, err := s.blobs.Open(ctx, blob.ID(g.BlobID))
	if errs.Is(errs.NotFound, err) {
		return 0, errs.E(errs.Integrity, "a stored piece of the partial upload is missing: discard the upload and send the file again", err)
	}
	if err != nil {
		return 0, err
	}
	defer obj.Close()
	if g.Size >= 0 && obj.Size() != g.Size {
		return 0, errs.E(errs.Integrity, fmt.Sprintf("a piece of the partial upload is %d bytes, not %d", obj.Size(), g.Size))
	}
	return io.CopyBuffer(w, io.NewSectionReader(obj, 0, obj.Size()), buf)
}

// keepPartial stores what an upload received as the caller's partial upload at l: the
// new state of resumed, or a new partial upload that replaces any other one there. On
// error the new blob is discarded (and resumed is left as it was, for the caller to
// release).
func (s *Service) keepPartial(ctx context.Context, p auth.Principal, l loc, st *staged, id blob.ID, resumed *db.Upload, opt CreateOptions) (Partial, error) {
	ctx = context.WithoutCancel(ctx)
	size := st.enc.Sealed() + int64(st.enc.Pending())
	state, err := st.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err == nil && size == 0 && resumed == nil {
		err = errs.E(errs.Invalid, "nothing was received")
	}
	if err != nil {
		st.w.Abort()
		s.discard(ctx, id, false)
		return Partial{}, err
	}
	// A resumed upload's new chunks become its next segment; none were sealed when all
	// the bytes received fit in the tail (kept in the row), and then the blob is empty.
	segment := resumed != nil && !st.whole // the blob is the next segment, if it holds a chunk
	var seg *db.UploadSegment
	if segment {
		before := crypt.SealedPayloadSize(resumed.Size - crypt.TailSize(resumed.Tail))
		if n := crypt.SealedPayloadSize(st.enc.Sealed()) - before; n > 0 {
			seg = &db.UploadSegment{Seq: int64(len(st.segs)) + 1, BlobID: string(id), Size: n}
		}
	}
	if segment && seg == nil {
		st.w.Abort()
		s.discard(ctx, id, false)
	} else if err := st.w.Commit(); err != nil {
		s.log.Warn("cannot keep a partial upload", "path", l.path, "err", err)
		s.discard(ctx, id, true)
		return Partial{}, err
	}
	now := s.now()
	var u db.Upload
	var garbage []string
	if resumed != nil {
		u = *resumed
	} else {
		u = db.Upload{ID: string(blob.NewID()), UserID: p.UserID, FolderID: l.folder.ID, Path: partialKey(l), VPath: l.path,
			Length: opt.Size, WantSHA256: opt.SHA256, CryptHeader: st.header, Created: now, BlobID: string(id)}
	}
	if resumed != nil && st.whole {
		u.BlobID = string(id) // it holds all, the stored blobs before it are garbage
		for _, g := range payloadBlobs(*resumed, st.segs) {
			garbage = append(garbage, g.BlobID)
		}
	}
	u.Size, u.HashState, u.Tail, u.Expires, u.LeaseUntil = size, state, st.enc.SealTail(), now.Add(s.partialTTL), time.Time{}
	err = s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, l.folder.ID); err != nil {
			return err
		}
		if resumed != nil {
			// A transfer whose lease ran out may find that another one continued
			// the upload meanwhile: what the other one stored (and acknowledged) stands.
			if _, err := current(ctx, q, *resumed); err != nil {
				return errs.E(errs.Path(l.path), err)
			}
			if err := s.charge(ctx, q, l.folder.ID, size-resumed.Size); err != nil {
				return err
			}
			if err := q.UpdateUpload(ctx, u); err != nil {
				return err
			}
			if st.whole {
				if err := q.DeleteUploadSegments(ctx, u.ID); err != nil {
					return err
				}
				for _, id := range garbage {
					if err := q.AddGarbage(ctx, id); err != nil {
						return err
					}
				}
				return q.ClaimPending(ctx, string(id))
			}
			if seg == nil {
				return nil
			}
			if err := q.AddUploadSegment(ctx, u.ID, *seg); err != nil {
				if errs.Is(errs.Exist, err) {
					return errs.E(errs.Conflict, errs.Path(l.path), "the upload was continued on another connection while this one was stalled: resume from where it now ends")
				}
				return err
			}
		} else {
			var err error
			if garbage, err = s.dropPartial(ctx, q, p.UserID, l); err != nil {
				return err
			}
			if err := s.charge(ctx, q, l.folder.ID, size); err != nil {
				return err
			}
			if err := q.InsertUpload(ctx, u); err != nil {
				return err
			}
		}
		return q.ClaimPending(ctx, string(id))
	})
	if err != nil {
		s.log.Warn("cannot keep a partial upload", "path", l.path, "err", err)
		if !segment || seg != nil {
			s.discard(ctx, id, true)
		}
		return Partial{}, err
	}
	s.collect(ctx, garbage)
	return s.partial(u), nil
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
	ids, err := s.dropUpload(ctx, q, u)
	if err != nil {
		return nil, err
	}
	if err := s.charge(ctx, q, l.folder.ID, -u.Size); err != nil {
		return nil, err
	}
	return ids, nil
}

// current returns partial upload u as it is now, in q, if it is still as it was when u
// was read: not discarded, expired or continued by another transfer since (a partial
// upload only grows). Errors: NotFound, Conflict.
func current(ctx context.Context, q db.Q, u db.Upload) (db.Upload, error) {
	cur, err := q.UploadByID(ctx, u.ID)
	if errs.Is(errs.NotFound, err) {
		return cur, errs.E(errs.NotFound, "the upload was discarded or expired meanwhile: start it again")
	}
	if err != nil {
		return cur, err
	}
	if cur.Size != u.Size || cur.BlobID != u.BlobID {
		return cur, errs.E(errs.Conflict, fmt.Sprintf("the upload was continued on another connection meanwhile; it now holds %d bytes: resume from there", cur.Size))
	}
	return cur, nil
}

// dropUpload deletes partial upload u inside a transaction and makes its blob and its
// segments' blobs garbage; it returns their ids, to collect after the commit. Errors:
// NotFound (it is gone). The caller credits the folder.
func (s *Service) dropUpload(ctx context.Context, q db.Q, u db.Upload) ([]string, error) {
	segs, err := q.UploadSegments(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if err := q.DeleteUpload(ctx, u.ID); err != nil {
		return nil, err
	}
	ids := []string{u.BlobID}
	for _, g := range segs {
		ids = append(ids, g.BlobID)
	}
	for _, id := range ids {
		if err := q.AddGarbage(ctx, id); err != nil {
			return nil, err
		}
	}
	return ids, nil
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
			if u, err := q.UploadAt(ctx, p.UserID, l.folder.ID, partialKey(l)); err == nil && u.LeaseUntil.After(s.now()) {
				return errs.E(errs.Conflict, errs.Path(l.path), "the upload is being received right now: stop that transfer first, or try again in a minute")
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
			var garbage []string
			err := s.db.Tx(ctx, func(q db.Q) error {
				if err := lockFolders(ctx, q, u.FolderID); err != nil {
					return err
				}
				// Resumed or discarded since it was listed: leave it (NotFound skips it).
				cur, err := current(ctx, q, u)
				if errs.Is(errs.Conflict, err) || err == nil && cur.LeaseUntil.After(s.now()) {
					err = errs.E(errs.NotFound, "resumed meanwhile")
				}
				if err != nil {
					return err
				}
				if garbage, err = s.dropUpload(ctx, q, u); err != nil {
					return err
				}
				if err := s.charge(ctx, q, u.FolderID, -u.Size); err != nil {
					return err
				}
				who := fmt.Sprintf("user %d", u.UserID)
				if u.UserID == 0 {
					who = "a parcel's uploader" // an owned folder's upload (package parcel)
				}
				return s.audit.AppendTx(ctx, q, audit.Record{Actor: "coffer", Protocol: audit.System, Action: audit.ActUploadExpire,
					Result: audit.OK, Bytes: u.Size, Detail: fmt.Sprintf("%s, folder %d, path %q, created %s", who, u.FolderID, u.Path, u.Created.UTC().Format(time.RFC3339))})
			})
			if err != nil && !errs.Is(errs.NotFound, err) {
				return n, err
			}
			if err == nil {
				n++
				s.collect(ctx, garbage)
			}
		}
	}
}
