package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// CreateOptions qualify Create.
type CreateOptions struct {
	// Size is the announced length of the content, or -1 if unknown. When known, a body
	// that would not fit the quota is refused before it is read, and a body of another
	// length is refused after.
	Size int64
	// SHA256, if set, is the digest the client claims; a mismatch refuses the file.
	SHA256 []byte
	// Parents makes missing parent directories (where the caller may write).
	Parents bool
	// Modified sets the file's modification time; zero means now.
	Modified time.Time
	// ModifiedLate, if set, is called once the whole body was read; a non-zero time it
	// returns overrides Modified. For protocols that set the time while the file is open
	// (SFTP's fsetstat before close, as OpenSSH's put -p sends it): the time is then
	// published with the file, in its commit, instead of in a second one.
	ModifiedLate func() time.Time
	// Resumable keeps what arrived of a body that was cut off (the client went away, ctx
	// ended) as the caller's partial upload at path, in whole 64 KiB chunks, for Resume.
	// The error then says how many bytes were kept.
	Resumable bool
	// Resume continues the caller's partial upload at path: Offset must be its size
	// (PartialAt), and r holds the rest of the file. Size and SHA256, if given, are those
	// of the whole file. Errors: NotFound when there is no partial upload there, Invalid
	// when Offset is not its size.
	Resume bool
	Offset int64
	// Accepted, if set, is called once the upload was accepted: its path resolved, the
	// permission, the quota and (for a resume) the partial upload checked, before any
	// content is read. A protocol that answers the opening of a file on its own (SFTP)
	// answers there, so that the setting up of the encryption overlaps the client's
	// next round trip. Errors after it are Create's result as usual.
	Accepted func()

	uploadID string // Append: resume this partial upload (of the caller, at path)
	piece    bool   // Append: the body may be a piece of the file; keep it if it ends short of Size
}

// ErrBodyRead marks an error that came from reading the caller's content (a client that
// went away mid-upload), as opposed to storing it.
var ErrBodyRead = errors.New("reading the upload failed")

// Create stores the content of r at path, replacing an existing file. The new content
// becomes visible only after all of it arrived, its size and digest were checked, it was
// made durable, and its metadata and audit record were committed in one transaction; on
// any failure nothing is visible and the partial data is removed.
//
// Errors: Invalid (bad path), NotFound (parent missing without Parents, or a folder the
// caller cannot see), Permission, IsDir, NotDir, Quota, NoSpace, Integrity (digest or
// size mismatch), Canceled, and errors wrapping ErrBodyRead.
func (s *Service) Create(ctx context.Context, p auth.Principal, path string, r io.Reader, opt CreateOptions) (Entry, error) {
	const op = errs.Op("files.Create")
	e, err := s.create(ctx, p, path, r, opt)
	if err != nil {
		return Entry{}, s.fail(ctx, p, audit.ActFileUpload, path, errs.E(op, err))
	}
	return e, nil
}

func (s *Service) create(ctx context.Context, p auth.Principal, path string, r io.Reader, opt CreateOptions) (Entry, error) {
	if !opt.Resume && opt.uploadID == "" && opt.Offset != 0 || opt.Offset < 0 {
		return Entry{}, errs.E(errs.Invalid, fmt.Sprintf("an upload cannot start at byte %d unless it resumes a partial upload", opt.Offset))
	}
	v, l, replaced, err := s.writable(ctx, p, path, opt.SHA256, opt.Parents)
	if err != nil {
		return Entry{}, err
	}
	q := s.db.Q()
	var resumed *db.Upload
	if opt.Resume || opt.uploadID != "" {
		u, err := s.leasePartial(ctx, p, l, opt)
		if err != nil {
			return Entry{}, err
		}
		resumed = &u
		if opt.Size < 0 {
			opt.Size = u.Length
		}
		if opt.SHA256 == nil {
			opt.SHA256 = u.WantSHA256
		}
	}
	// release gives up the lease of a resumed upload that ends without keeping or
	// publishing anything new: the partial upload stays as it was.
	release := func() {
		if resumed != nil {
			if err := s.db.Q().RenewUpload(context.WithoutCancel(ctx), resumed.ID, time.Time{}); err != nil {
				s.log.Warn("cannot release a partial upload; it is free again within two minutes", "path", l.path, "err", err)
			}
		}
	}
	f, err := q.FolderByID(ctx, l.folder.ID)
	if err != nil {
		release()
		return Entry{}, err
	}
	if f.QuotaBytes > 0 {
		// A partial upload being resumed is charged already, as its bytes will be in the
		// file: the room is for the rest.
		want := int64(-1)
		if opt.Size >= 0 {
			want = opt.Size - opt.Offset
		}
		// A body of unknown length is cut off as soon as it passes the room left, so that
		// nobody can fill the disk past their quota, even for the length of an upload.
		qr, err := s.limitToRoom(r, f, f.QuotaBytes-f.UsedBytes+replaced, want)
		if err != nil {
			release()
			return Entry{}, err
		}
		defer qr.done()
		r = qr
	}

	id := blob.NewID()
	// A new upload that may be small starts in memory (smallWriter); any other is a blob,
	// recorded as pending before its first byte is written.
	small := resumed == nil && !opt.piece && opt.Size <= s.inlineMax && s.inlineMax > 0
	if !small {
		if err := q.AddPending(ctx, string(id)); err != nil {
			release()
			return Entry{}, err
		}
	}
	if opt.Accepted != nil {
		opt.Accepted()
	}
	var st *staged
	if resumed != nil {
		stop := s.holdLease(ctx, resumed.ID)
		st, err = s.store(ctx, id, r, opt.Size, resumed, opt.piece, false)
		stop()
	} else {
		st, err = s.store(ctx, id, r, opt.Size, nil, opt.piece, small)
	}
	if err != nil {
		if st != nil && (opt.Resumable && interrupted(err) || errors.Is(err, errShort)) {
			kept, kerr := s.keepPartial(ctx, p, l, st, id, resumed, opt)
			if kerr == nil && errors.Is(err, errShort) {
				return Entry{}, &shortError{kept}
			}
			if kerr == nil {
				return Entry{}, fmt.Errorf("%w; the %d bytes received were kept: resume the upload from there before %s",
					err, kept.Size, kept.Expires.UTC().Format(time.RFC3339))
			}
			if errs.Is(errs.Conflict, kerr) {
				return Entry{}, kerr // another transfer took the upload over: the lease is its own now
			}
			release()
			return Entry{}, err
		}
		if st != nil {
			st.w.Abort()
		}
		if !st.inMemory() {
			s.discard(ctx, id, false)
		}
		release()
		return Entry{}, err
	}
	header, size, sum := st.header, st.n, st.h.Sum(nil)
	if opt.SHA256 != nil && !bytes.Equal(sum, opt.SHA256) {
		if !st.inMemory() {
			s.discard(ctx, id, true)
		}
		release()
		return Entry{}, errs.E(errs.Integrity, fmt.Sprintf("the content's SHA-256 is %s, not the %s the client announced: the upload was corrupted; send it again",
			hex.EncodeToString(sum), hex.EncodeToString(opt.SHA256)))
	}
	if resumed != nil && !st.whole {
		// Under the lease: copying a large file may take longer than one lease.
		stop := s.holdLease(ctx, resumed.ID)
		id, err = s.concat(ctx, *resumed, st, id)
		stop()
		if err != nil {
			release()
			return Entry{}, err
		}
	}

	now := s.now()
	mod := opt.Modified
	if opt.ModifiedLate != nil {
		if t := opt.ModifiedLate(); !t.IsZero() {
			mod = t
		}
	}
	if mod.IsZero() {
		mod = now
	}
	var out Entry
	var garbage []string
	// The whole body is stored: from here on, a client that goes away must not undo a
	// publish that the database may already have committed.
	ctx = context.WithoutCancel(ctx)
	err = s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, l.folder.ID); err != nil {
			return err
		}
		if err := s.stillWritable(ctx, q, p, l); err != nil {
			return err
		}
		if resumed != nil {
			if _, err := current(ctx, q, *resumed); err != nil {
				return err
			}
		}
		// The caller's partial upload here (the one this completes, or one this upload
		// supersedes) goes first, so that its bytes are not charged twice.
		dropped, err := s.dropPartial(ctx, q, p.UserID, l)
		if err != nil {
			return err
		}
		garbage = append(garbage, dropped...)
		parent, err := s.walk(ctx, q, l.folder.ID, l.rel, opt.Parents, now)
		if err != nil {
			return err
		}
		name := l.rel[len(l.rel)-1]
		de := db.Entry{FolderID: l.folder.ID, ParentID: parent, Name: name, Size: size, SHA256: sum,
			BlobID: string(id), CryptHeader: header, Created: now, Modified: mod}
		if st.payload != nil {
			de.BlobID, de.Payload = "", st.payload
		}
		old, err := q.LookupChild(ctx, l.folder.ID, parent, name)
		switch {
		case err == nil && old.IsDir:
			return errs.E(errs.IsDir, errs.Path(l.path), "a directory of that name exists")
		case err == nil:
			if err := s.charge(ctx, q, l.folder.ID, size-old.Size); err != nil {
				return err
			}
			de.ID, de.Created = old.ID, old.Created
			if err := q.ReplaceFile(ctx, de); err != nil {
				return err
			}
			if err := q.AddGarbage(ctx, old.BlobID); err != nil {
				return err
			}
			garbage = append(garbage, old.BlobID)
		case errs.Is(errs.NotFound, err):
			if err := s.charge(ctx, q, l.folder.ID, size); err != nil {
				return err
			}
			if de, err = q.InsertEntry(ctx, de); err != nil {
				return err
			}
		default:
			return err
		}
		if err := s.claim(ctx, q, st, id); err != nil {
			return err
		}
		rec := record(p, audit.ActFileUpload, l.path)
		rec.Bytes, rec.Result, rec.Detail = size, audit.OK, "sha256:"+hex.EncodeToString(sum)
		if resumed != nil && resumed.Size > 0 {
			rec.Detail += fmt.Sprintf(", resumed at byte %d", resumed.Size)
		}
		if err := s.audit.AppendTx(ctx, q, rec); err != nil {
			return err
		}
		out = s.entry(l, de, v.perm(l))
		return nil
	})
	if err != nil {
		if !st.inMemory() {
			s.discard(ctx, id, true)
		}
		return Entry{}, err
	}
	s.collect(ctx, garbage)
	return out, nil
}

// stillWritable checks again, in the transaction that publishes an upload to l, that
// p's account may sign in and may write there: an upload may take hours, and an
// account disabled or a grant revoked meanwhile must not still publish its file.
func (s *Service) stillWritable(ctx context.Context, q db.Q, p auth.Principal, l loc) error {
	v, err := s.viewIn(ctx, q, p)
	if err != nil {
		return err
	}
	comps, err := ParsePath(l.path)
	if err != nil {
		return err
	}
	now := v.resolve(l.path, comps)
	if now.folder.ID != l.folder.ID {
		return errs.E(errs.Permission, errs.Path(l.path), "the folder is no longer shared with you: the upload was not stored")
	}
	if !v.allowed(now, authz.Write) {
		return denied("", v, now, "upload")
	}
	return nil
}

// claim forgets the pending row of st's blob id in the transaction that publishes it;
// a payload kept in memory has none.
func (s *Service) claim(ctx context.Context, q db.Q, st *staged, id blob.ID) error {
	if st.inMemory() {
		return nil
	}
	if err := q.ClaimPending(ctx, string(id)); err != nil {
		if errs.Is(errs.NotFound, err) {
			return errs.E(errs.Other, "the upload was taken for abandoned by garbage collection; send it again")
		}
		return err
	}
	return nil
}

// writable resolves the path of an upload and fails early, before any content is read,
// on what can be seen already: no write permission, a folder or directory there, a
// missing parent (without parents), a malformed digest. replaced is the size of the file
// the upload would replace.
func (s *Service) writable(ctx context.Context, p auth.Principal, path string, sum []byte, parents bool) (v view, l loc, replaced int64, err error) {
	v, l, err = s.begin(ctx, p, path)
	if err != nil {
		return view{}, loc{}, 0, err
	}
	if l.isRoot() || l.isMount() {
		return view{}, loc{}, 0, errs.E(errs.IsDir, errs.Path(l.path), "cannot write a file over a folder")
	}
	if !v.allowed(l, authz.Write) {
		return view{}, loc{}, 0, denied("", v, l, "upload")
	}
	if sum != nil && len(sum) != sha256.Size {
		return view{}, loc{}, 0, errs.E(errs.Invalid, "the SHA-256 digest must be 32 bytes")
	}
	q := s.db.Q()
	existing, err := s.lookup(ctx, q, l.folder.ID, l.rel)
	switch {
	case err == nil && existing.IsDir:
		return view{}, loc{}, 0, errs.E(errs.IsDir, errs.Path(l.path), "a directory of that name exists")
	case err == nil:
		return v, l, existing.Size, nil
	case !errs.Is(errs.NotFound, err):
		return view{}, loc{}, 0, err
	case !parents && len(l.rel) > 1:
		if _, err := s.walk(ctx, q, l.folder.ID, l.rel, false, time.Time{}); err != nil {
			return view{}, loc{}, 0, err
		}
	}
	return v, l, 0, nil
}

// staged is an upload being stored: its blob writer, the age header, the encrypting
// writer, the plaintext digest and length so far; once stored, the payload if it was
// small enough to stay in memory (for the file's row), else nil.
type staged struct {
	w       blob.Writer
	header  []byte
	enc     *crypt.Writer
	h       hash.Hash
	n       int64
	payload []byte
	segs    []db.UploadSegment // a resumed upload's segments as of the resume (see resumeFrom)
	whole   bool               // a resumed upload's blob starts with all it had stored
}

// interrupted reports whether an upload failed because its body was cut off, as opposed
// to being refused: only then is it worth keeping for a resume.
func interrupted(err error) bool {
	return errors.Is(err, ErrBodyRead) || errs.KindOf(err) == errs.Canceled
}

// store encrypts r into blob id, hashing the plaintext on the way, and makes it durable.
// With resume, r is the rest of that partial upload (see resumeFrom for what the blob
// then holds).
// With small, the payload stays in memory as long as it fits a MaxInline file, and a
// whole payload that fits is returned in st.payload instead of being stored.
// On error, st is not nil if the blob writer is open (the caller aborts it or keeps what
// was sealed); on success the blob is committed.
func (s *Service) store(ctx context.Context, id blob.ID, r io.Reader, want int64, resume *db.Upload, piece, small bool) (st *staged, err error) {
	// The blob outlives a canceled ctx, so that what was sealed can be kept as a partial
	// upload; the loop below stops reading when ctx ends.
	var w blob.Writer
	if small {
		w = s.newSmallWriter(ctx, id)
	} else if w, err = s.blobs.Create(context.WithoutCancel(ctx), id); err != nil {
		return nil, err
	}
	st = &staged{w: w, h: sha256.New()}
	if resume != nil {
		st.header, st.n = resume.CryptHeader, resume.Size
		st.enc, st.segs, st.whole, err = s.resumeFrom(ctx, *resume, w, st.h, !piece)
	} else {
		st.header, st.enc, err = s.keys.Encrypt(w, st.h)
	}
	if err != nil {
		w.Abort()
		return nil, err
	}
	bp := s.copyBuffer()
	defer s.bufs.Put(bp)
	buf := *bp
	for {
		if err := ctx.Err(); err != nil {
			return st, errs.E(errs.Canceled, err)
		}
		m, rerr := fill(r, buf)
		if m > 0 {
			st.n += int64(m)
			if want >= 0 && st.n > want {
				return st, errs.E(errs.Integrity, fmt.Sprintf("the body is longer than the announced %d bytes", want))
			}
			if _, err := st.enc.Write(buf[:m]); err != nil {
				return st, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if k := errs.KindOf(rerr); k != errs.Other {
				return st, rerr // e.g. TooLarge from a size-limited body
			}
			return st, errs.E(errs.Canceled, fmt.Errorf("%w after %d bytes: %w", ErrBodyRead, st.n, rerr))
		}
	}
	if piece && st.n < want {
		return st, errShort
	}
	if want >= 0 && st.n != want {
		return st, errs.E(errs.Integrity, fmt.Sprintf("the body ended after %d of the announced %d bytes", st.n, want))
	}
	if err := st.enc.Close(); err != nil {
		if errs.KindOf(err) == errs.Integrity && resume != nil {
			err = errs.E(errs.Integrity, fmt.Sprintf("the resumed upload ended at byte %d, where the partial upload already ended: a partial upload is always shorter than the file; resume with the rest of it", st.n))
		}
		return st, err
	}
	if sw, ok := w.(*smallWriter); ok {
		if p, ok := sw.payload(); ok {
			st.payload = p
			return st, nil
		}
	}
	if err := w.Commit(); err != nil {
		return nil, err
	}
	return st, nil
}

// fill reads into buf until it is full or r fails. Unlike io.ReadFull it keeps r's own
// error: only io.EOF from r is the end of the content, and an io.ErrUnexpectedEOF from r
// (a connection cut mid-body) stays a failure.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// discard removes a blob that will not be published. committed says whether it reached
// the store. The pending row goes only once the blob is surely gone: if the store cannot
// delete it now, the row is what lets the next garbage collection find it.
func (s *Service) discard(ctx context.Context, id blob.ID, committed bool) {
	ctx = context.WithoutCancel(ctx)
	// Even when not committed: Abort removed the data, but a store that failed
	// mid-commit may still hold it, and deleting a missing blob is not an error.
	if err := s.blobs.Delete(ctx, id); err != nil {
		if committed {
			s.log.Warn("cannot delete discarded blob; the next garbage collection will", "blob", id, "err", err)
		}
		return
	}
	if err := s.db.Q().RemovePending(ctx, string(id)); err != nil {
		s.log.Warn("cannot forget discarded blob", "blob", id, "err", err)
	}
}

// charge adds delta bytes to a folder's usage or fails with Quota.
func (s *Service) charge(ctx context.Context, q db.Q, folderID, delta int64) error {
	ok, err := q.ChargeFolder(ctx, folderID, delta)
	if err != nil {
		return err
	}
	if !ok {
		f, err := q.FolderByID(ctx, folderID)
		if err != nil {
			return err
		}
		return quotaError(f)
	}
	return nil
}

func quotaError(f db.Folder) error {
	return errs.E(errs.Quota, fmt.Sprintf("the quota is exceeded: %d of %d bytes used; delete files or ask an administrator for more space",
		f.UsedBytes, f.QuotaBytes))
}

// limitToRoom returns r as a quotaReader of folder f with room bytes left, or Quota at
// once if want (an announced length; negative: unknown) does not fit beside what the
// uploads under way into f hold. Call done on it once the upload is published or
// dropped.
func (s *Service) limitToRoom(r io.Reader, f db.Folder, room, want int64) (*quotaReader, error) {
	if want >= 0 && want > room-s.inflight.of(f.ID) {
		return nil, quotaError(f)
	}
	return &quotaReader{r: r, room: room, folder: f, in: &s.inflight}, nil
}

// quotaReader fails with Quota once the bytes read by all uploads under way into its
// folder (on this node: s.inflight) pass room, the room left when it began. So several
// uploads at once cannot hold more than the quota either, for as long as they run.

type quotaReader struct {
	r      io.Reader
	room   int64
	folder db.Folder
	in     *inflight
	held   int64 // bytes read, counted in in
	over   bool
}

func (q *quotaReader) Read(p []byte) (int, error) {
	// Once over, stay over without reading: io.ReadFull drops an error that comes with
	// a full buffer, so the error must also come alone.
	if q.over {
		return 0, quotaError(q.folder)
	}
	n, err := q.r.Read(p)
	if n > 0 && !q.in.take(q.folder.ID, int64(n), q.room) {
		q.over = true
		if others := q.in.of(q.folder.ID) - q.held; others > 0 {
			return n, errs.E(errs.Quota, fmt.Sprintf("the quota is exceeded: %d of %d bytes used, and other uploads under way hold %d more; wait for them, delete files or ask an administrator for more space",
				q.folder.UsedBytes, q.folder.QuotaBytes, others))
		}
		return n, quotaError(q.folder)
	}
	q.held += int64(n)
	return n, err
}

// done gives back what the upload counted.
func (q *quotaReader) done() {
	q.in.give(q.folder.ID, q.held)
	q.held = 0
}

// inflight counts, per folder, the bytes that uploads under way have read and not yet
// published or dropped. Each node counts its own.
type inflight struct {
	mu    sync.Mutex
	bytes map[int64]int64
}

// take adds n bytes to folder's count if the count then stays within room.
func (in *inflight) take(folder, n, room int64) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.bytes[folder]+n > room {
		return false
	}
	if in.bytes == nil {
		in.bytes = map[int64]int64{}
	}
	in.bytes[folder] += n
	return true
}

func (in *inflight) give(folder, n int64) {
	if n == 0 {
		return // nothing was taken (an empty upload): there may be no map yet
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.bytes[folder] -= n; in.bytes[folder] <= 0 {
		delete(in.bytes, folder)
	}
}

// of is folder's count.
func (in *inflight) of(folder int64) int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.bytes[folder]
}
