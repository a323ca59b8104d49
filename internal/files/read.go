package files

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

// Reader is an open file: decrypted, random-access plaintext. Every chunk read is
// authenticated; a corrupt or tampered blob yields an Integrity error, never wrong bytes.
// Close records the download, with the bytes read, in the audit log.
type Reader struct {
	Entry Entry
	r     io.ReaderAt
	obj   blob.Object
	n     atomic.Int64
	close sync.Once
	done  func(bytes int64, err error)
}

// ReadAt reads plaintext at off (io.ReaderAt semantics).
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.r.ReadAt(p, off)
	r.n.Add(int64(n))
	if err != nil && err != io.EOF {
		err = errs.E(errs.Op("files.Read"), errs.Path(r.Entry.Path), err)
	}
	return n, err
}

// Size is the plaintext size.
func (r *Reader) Size() int64 { return r.Entry.Size }

// Close releases the file and audits the download. Call it exactly once; later calls
// do nothing. failure, if not nil, is recorded as the outcome (e.g. the client left).
func (r *Reader) Close() error { return r.CloseWith(nil) }

// CloseSent is CloseWith, recording sent as the bytes the client received in place of
// the bytes read, for a protocol that reads ahead in blocks (SFTP: a resumed download
// reads from the start of its first block, and a cut one reads a block it never sends).
// Call it once no ReadAt is under way.
func (r *Reader) CloseSent(sent int64, failure error) error {
	r.n.Store(sent)
	return r.CloseWith(failure)
}

// CloseWith is Close, recording failure as the download's outcome.
func (r *Reader) CloseWith(failure error) error {
	var err error
	r.close.Do(func() {
		err = r.obj.Close()
		r.done(r.n.Load(), failure)
	})
	return err
}

// Open opens the file at path for reading. Errors: Invalid, NotFound, Permission, IsDir,
// Integrity (the stored data does not match its metadata or fails authentication).
func (s *Service) Open(ctx context.Context, p auth.Principal, path string) (*Reader, error) {
	const op = errs.Op("files.Open")
	r, err := s.open(ctx, p, path)
	if err != nil {
		return nil, s.fail(ctx, p, audit.ActFileDownload, path, errs.E(op, err))
	}
	return r, nil
}

func (s *Service) open(ctx context.Context, p auth.Principal, path string) (*Reader, error) {
	v, l, err := s.begin(ctx, p, path)
	if err != nil {
		return nil, err
	}
	if l.isRoot() || l.isMount() {
		return nil, errs.E(errs.IsDir, errs.Path(l.path), "is a directory")
	}
	if !v.allowed(l, authz.Read) {
		return nil, denied("", v, l, "download")
	}
	e, err := s.lookup(ctx, s.db.Q(), l.folder.ID, l.rel)
	if err != nil {
		return nil, errs.E(errs.Path(l.path), err)
	}
	if e.IsDir {
		return nil, errs.E(errs.IsDir, errs.Path(l.path), "is a directory")
	}
	trip, err := s.trip.Download(ctx, p, e.ID, l.path)
	if err != nil {
		return nil, err
	}
	r, err := s.openEntry(ctx, l, e)
	if err != nil {
		return nil, err
	}
	if trip.Rate > 0 {
		r.r = tripwire.NewThrottled(ctx, r.r, trip.Rate)
	}
	r.Entry = s.entry(l, e, v.perm(l))
	r.done = func(n int64, failure error) {
		rec := record(p, audit.ActFileDownload, l.path)
		rec.Bytes, rec.Result = n, audit.OK
		if failure != nil {
			rec.Result, rec.Detail = audit.Failed, errs.Detail(failure)
			if rec.Detail == "" {
				rec.Detail = failure.Error()
			}
		}
		// The bytes counted for the tripwires and the audit record: one commit.
		ctx := context.WithoutCancel(ctx)
		err := s.db.Tx(ctx, func(q db.Q) error {
			if err := s.trip.DownloadedTx(ctx, q, p, n); err != nil {
				return err
			}
			return s.audit.AppendTx(ctx, q, rec)
		})
		if err == nil {
			return
		}
		// Whatever failed, the record must not be lost with the count.
		s.log.Error("cannot record a download with its byte count; appending the audit record alone", "err", err)
		if err := s.audit.Append(ctx, rec); err != nil {
			s.log.Error("cannot write audit record", "action", rec.Action, "err", err)
		}
	}
	return r, nil
}

// openEntry opens the content of file entry e (at l) for decryption; the caller sets the
// Reader's Entry and done.
func (s *Service) openEntry(ctx context.Context, l loc, e db.Entry) (*Reader, error) {
	obj, err := s.content(ctx, l, e)
	if err != nil {
		return nil, err
	}
	pr, size, err := s.keys.Open(e.CryptHeader, obj, obj.Size())
	if err == nil && size != e.Size {
		err = errs.E(errs.Integrity, fmt.Sprintf("stored data holds %d bytes but the file has %d", size, e.Size))
	}
	if err != nil {
		obj.Close()
		return nil, errs.E(errs.Path(l.path), err)
	}
	return &Reader{r: pr, obj: obj}, nil
}

// content opens the stored payload of file entry e: its blob, or the payload in its row
// (a small file, whose BlobID is "").
func (s *Service) content(ctx context.Context, l loc, e db.Entry) (blob.Object, error) {
	if e.BlobID != "" {
		obj, err := s.blobs.Open(ctx, blob.ID(e.BlobID))
		if errs.Is(errs.NotFound, err) {
			return nil, errs.E(errs.Integrity, errs.Path(l.path), "the file's stored data is missing: restore the blob store from backup")
		}
		return obj, err
	}
	p, err := s.db.Q().EntryPayload(ctx, e.ID, e.CryptHeader)
	switch {
	case errs.Is(errs.NotFound, err):
		return nil, errs.E(errs.NotFound, errs.Path(l.path), "the file was deleted or replaced while it was being opened; open it again")
	case err != nil:
		return nil, err
	case p == nil:
		return nil, errs.E(errs.Integrity, errs.Path(l.path), "the file's stored data is missing (its row has neither a blob nor a payload): restore the database from backup")
	}
	return blob.Bytes(p), nil
}

// Stat describes the entry at path. Errors: Invalid, NotFound, Permission (never for
// entries in a folder the caller cannot list: those are NotFound).
func (s *Service) Stat(ctx context.Context, p auth.Principal, path string) (Entry, error) {
	const op = errs.Op("files.Stat")
	v, l, err := s.begin(ctx, p, path)
	if err != nil {
		return Entry{}, s.fail(ctx, p, audit.ActFileStat, path, errs.E(op, err))
	}
	return s.stat(ctx, p, path, v, l)
}

// StatPartial is Stat, except that where Stat finds nothing (NotFound), it returns the
// caller's partial upload at path instead, if there is one (part is then not nil). It
// is Stat followed by PartialAt with the path resolved once: SFTP's stat shows an
// interrupted upload to its owner, so that clients know where to resume.
func (s *Service) StatPartial(ctx context.Context, p auth.Principal, path string) (e Entry, part *Partial, err error) {
	const op = errs.Op("files.Stat")
	v, l, err := s.begin(ctx, p, path)
	if err != nil {
		return Entry{}, nil, s.fail(ctx, p, audit.ActFileStat, path, errs.E(op, err))
	}
	e, err = s.stat(ctx, p, path, v, l)
	if !errs.Is(errs.NotFound, err) {
		return e, nil, err
	}
	if pt, perr := s.partialAt(ctx, p, l); perr == nil {
		return Entry{}, &pt, nil
	}
	return Entry{}, nil, err
}

// stat is Stat of path, resolved to l in view v.
func (s *Service) stat(ctx context.Context, p auth.Principal, path string, v view, l loc) (Entry, error) {
	const op = errs.Op("files.Stat")
	switch {
	case l.isRoot():
		return Entry{Path: "/", Name: "/", IsDir: true, Perm: v.perm(l)}, nil
	case l.isMount():
		f, err := s.db.Q().FolderByID(ctx, l.folder.ID)
		if err != nil {
			return Entry{}, errs.E(op, err)
		}
		return Entry{Path: l.path, Name: l.mount, IsDir: true, Shared: true, Created: f.Created, Modified: f.Created, Perm: v.perm(l)}, nil
	}
	if !v.allowed(l, authz.List) && !v.allowed(l, authz.Read) {
		return Entry{}, s.fail(ctx, p, audit.ActFileStat, path, errs.E(op, denied("", v, l, "look")))
	}
	e, err := s.lookup(ctx, s.db.Q(), l.folder.ID, l.rel)
	if err != nil {
		return Entry{}, errs.E(op, errs.Path(l.path), err)
	}
	return s.entry(l, e, v.perm(l)), nil
}

// MaxListLimit bounds one page of a listing.
const MaxListLimit = 5000

// List returns up to limit entries of the directory at path whose names sort (bytewise)
// after after, in name order, and the cursor for the next page ("" when this was the
// last). Errors: Invalid, NotFound, NotDir, Permission.
func (s *Service) List(ctx context.Context, p auth.Principal, path, after string, limit int) ([]Entry, string, error) {
	return s.ListOrdered(ctx, p, path, ByName, after, limit)
}

// ListOrdered is List in another order: by name, size or modification time, ascending or
// descending (ties in name order). The cursor is opaque: pass the one returned for the
// previous page, with the same order. In orders other than by name, the shared folders at
// the root come first, on the first page. Errors: Invalid (also a cursor of another
// order), NotFound, NotDir, Permission.
func (s *Service) ListOrdered(ctx context.Context, p auth.Principal, path string, order Order, after string, limit int) ([]Entry, string, error) {
	const op = errs.Op("files.List")
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	afterKey, afterName, err := parseListCursor(order, after)
	if err != nil {
		return nil, "", errs.E(op, err)
	}
	v, l, err := s.begin(ctx, p, path)
	if err != nil {
		return nil, "", s.fail(ctx, p, audit.ActDirList, path, errs.E(op, err))
	}
	if !v.allowed(l, authz.List) {
		return nil, "", s.fail(ctx, p, audit.ActDirList, path, errs.E(op, denied("", v, l, "list")))
	}
	q := s.db.Q()
	var dirID int64
	if len(l.rel) > 0 {
		e, err := s.lookup(ctx, q, l.folder.ID, l.rel)
		if err != nil {
			return nil, "", errs.E(op, errs.Path(l.path), err)
		}
		if !e.IsDir {
			return nil, "", errs.E(op, errs.NotDir, errs.Path(l.path), "not a directory")
		}
		dirID = e.ID
	}
	if after == "" {
		if err := s.trip.Listed(ctx, p, l.folder.ID, dirID, l.path); err != nil {
			return nil, "", errs.E(op, err)
		}
	}
	// One more than asked tells whether another page follows. The cursor is the last
	// entry of the folder's own entries on this page, so the root's mount points (which
	// may add a few entries to a page) are never skipped or repeated.
	rows, err := q.ListChildrenOrdered(ctx, l.folder.ID, dirID, order, afterKey, afterName, limit+1)
	if err != nil {
		return nil, "", errs.E(op, err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = listCursor(order, rows[limit-1])
	}
	perm := v.perm(l)
	out := make([]Entry, 0, len(rows))
	for _, e := range rows {
		if l.isRoot() {
			if _, hidden := v.shared[e.Name]; hidden {
				continue
			}
		}
		out = append(out, s.entry(loc{path: joinPath(l.path, e.Name)}, e, perm))
	}
	if l.isRoot() {
		switch {
		case order == ByName:
			out = mergeMounts(v, out, after, next)
		case after == "":
			out = append(mounts(v, "", ""), out...)
		}
	}
	return out, next, nil
}

// Order is the order of a listing (see ListOrdered).
type Order = db.Order

// The orders of a listing.
const (
	ByName         = db.ByName
	ByNameDesc     = db.ByNameDesc
	BySize         = db.BySize
	BySizeDesc     = db.BySizeDesc
	ByModified     = db.ByModified
	ByModifiedDesc = db.ByModifiedDesc
)

// ParseOrder reads a listing order as front-ends take it: sort "name" (or ""), "size" or
// "modified", and order "asc" (or "") or "desc". Errors: Invalid.
func ParseOrder(sort, order string) (Order, error) {
	var o Order
	switch sort {
	case "", "name":
		o = ByName
	case "size":
		o = BySize
	case "modified":
		o = ByModified
	default:
		return ByName, errs.E(errs.Invalid, "sort must be name, size or modified")
	}
	switch order {
	case "", "asc":
		return o, nil
	case "desc":
		return o + 1, nil // each descending order follows its ascending one
	}
	return ByName, errs.E(errs.Invalid, "order must be asc or desc")
}

// listCursor is the cursor after e in order o: its name, or for keyed orders its key,
// a slash (which no name holds) and its name.
func listCursor(o Order, e db.Entry) string {
	if !o.Keyed() {
		return e.Name
	}
	return strconv.FormatInt(o.Key(e), 10) + "/" + e.Name
}

func parseListCursor(o Order, c string) (int64, string, error) {
	if !o.Keyed() || c == "" {
		return 0, c, nil
	}
	k, name, ok := strings.Cut(c, "/")
	key, err := strconv.ParseInt(k, 10, 64)
	if !ok || err != nil || name == "" {
		return 0, "", errs.E(errs.Invalid, "the cursor is not one of this listing order: start again from the first page")
	}
	return key, name, nil
}

// mounts returns the shared folders' mount points named after after and, unless upto is
// "", not after upto, in name order.
func mounts(v view, after, upto string) []Entry {
	var out []Entry
	for _, name := range v.names {
		if name <= after || (upto != "" && name > upto) {
			continue
		}
		f := v.shared[name]
		out = append(out, Entry{Path: "/" + name, Name: name, IsDir: true, Shared: true,
			Perm: authz.Effective(v.subject, f)})
	}
	return out
}

// mergeMounts adds the shared folders' mount points to a page of the root listing,
// keeping name order: those after the previous cursor and up to this page's cursor
// (when another page follows).
func mergeMounts(v view, page []Entry, after, next string) []Entry {
	mounts := mounts(v, after, next)
	if len(mounts) == 0 {
		return page
	}
	merged := make([]Entry, 0, len(page)+len(mounts))
	i, j := 0, 0
	for i < len(page) || j < len(mounts) {
		if j == len(mounts) || (i < len(page) && page[i].Name < mounts[j].Name) {
			merged = append(merged, page[i])
			i++
		} else {
			merged = append(merged, mounts[j])
			j++
		}
	}
	return merged
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// Usage reports the bytes used and the quota (0 = unlimited) of p's home folder.
func (s *Service) Usage(ctx context.Context, p auth.Principal) (used, quota int64, err error) {
	v, err := s.view(ctx, p)
	if err != nil {
		return 0, 0, errs.E(errs.Op("files.Usage"), err)
	}
	f, err := s.db.Q().FolderByID(ctx, v.home.ID)
	return f.UsedBytes, f.QuotaBytes, err
}
