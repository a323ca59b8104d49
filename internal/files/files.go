// Package files is the single door to stored files. Every protocol front-end calls it,
// and it alone checks permissions, enforces quotas, encrypts, verifies integrity,
// records metadata and writes the audit log, once, for all protocols.
//
// Each user sees one virtual tree: the root is their home folder, and every shared folder
// granted to them (directly or through a group) appears as a top-level directory named
// after it. A home entry with the same name as a granted shared folder is hidden by it.
package files

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

// Service implements the file use cases.
type Service struct {
	db    *db.DB
	blobs blob.Store
	keys  *crypt.Keyring
	audit *audit.Log
	log   *slog.Logger
	now   func() time.Time

	partialTTL  time.Duration
	uploadLease time.Duration     // see SetUploadLease
	inlineMax   int64             // see SetInlineMax
	trip        *tripwire.Service // see SetTripwires; nil: none

	bufs     sync.Pool // of copy buffers (see copyBuffer)
	inflight inflight  // bytes of uploads under way, per folder (see quotaReader)
}

// copyBuffer returns a buffer of blob.CopyBufferSize from s.bufs; give it back with
// s.bufs.Put. Uploads reuse them rather than allocate (and zero) 256 KiB each, which
// for many small files was a good share of the allocation and collection work.
func (s *Service) copyBuffer() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, blob.CopyBufferSize)
	return &b
}

// New returns a Service.
func New(d *db.DB, blobs blob.Store, keys *crypt.Keyring, a *audit.Log, log *slog.Logger) *Service {
	return &Service{db: d, blobs: blobs, keys: keys, audit: a, log: log, now: time.Now, partialTTL: DefaultPartialTTL, uploadLease: DefaultUploadLease, inlineMax: MaxInline}
}

// Entry is a file or directory as users see it.
type Entry struct {
	Path     string // virtual path, e.g. "/results/2026/run1.csv"
	Name     string
	IsDir    bool
	Size     int64
	SHA256   []byte // nil for directories
	Modified time.Time
	Created  time.Time
	Shared   bool       // a shared folder's mount point
	Perm     authz.Perm // what the caller may do in the folder that holds this entry
}

// view is a user's tree: their home and their shared folders by name.
type view struct {
	subject authz.Subject
	home    authz.Folder
	shared  map[string]authz.Folder
	names   []string // sorted names of shared folders
}

// loc is a resolved path: the folder it lies in and the components within that folder.
type loc struct {
	path   string
	folder authz.Folder
	mount  string   // "" for home, else the shared folder's name
	rel    []string // components inside the folder; empty = the folder's root
}

// isRoot reports whether l is the user's root "/", which is virtual.
func (l loc) isRoot() bool { return l.mount == "" && len(l.rel) == 0 }

// isMount reports whether l is a shared folder's mount point.
func (l loc) isMount() bool { return l.mount != "" && len(l.rel) == 0 }

func (s *Service) view(ctx context.Context, p auth.Principal) (view, error) {
	return s.viewIn(ctx, s.db.Q(), p)
}

// viewIn is view, read with q (a transaction's).
func (s *Service) viewIn(ctx context.Context, q db.Q, p auth.Principal) (view, error) {
	u, err := q.UserByID(ctx, p.UserID)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			return view{}, errs.E(errs.Unauthenticated, "the account no longer exists")
		}
		return view{}, err
	}
	if u.Disabled {
		return view{}, errs.E(errs.Unauthenticated, "the account is disabled")
	}
	if !u.Suspended.IsZero() {
		return view{}, errs.E(errs.Unauthenticated, auth.ErrSuspended)
	}
	grants, err := q.GrantsForUser(ctx, u.ID)
	if err != nil {
		return view{}, err
	}
	v := view{
		subject: authz.Subject{UserID: u.ID, Admin: u.Admin},
		home:    authz.Folder{ID: u.HomeFolderID, OwnerID: u.ID},
		shared:  map[string]authz.Folder{},
	}
	for _, g := range grants {
		f := v.shared[g.FolderName]
		f.ID = g.FolderID
		f.Granted |= authz.Perm(g.Perms)
		v.shared[g.FolderName] = f
	}
	for name := range v.shared {
		v.names = append(v.names, name)
	}
	slices.Sort(v.names)
	return v, nil
}

func (v view) resolve(path string, comps []string) loc {
	if len(comps) > 0 {
		if f, ok := v.shared[comps[0]]; ok {
			return loc{path: Join(comps...), folder: f, mount: comps[0], rel: comps[1:]}
		}
	}
	return loc{path: Join(comps...), folder: v.home, rel: comps}
}

func (v view) allowed(l loc, need authz.Perm) bool { return authz.Allowed(v.subject, l.folder, need) }

func (v view) perm(l loc) authz.Perm { return authz.Effective(v.subject, l.folder) }

// begin authenticates p's current state, parses path and resolves it.
func (s *Service) begin(ctx context.Context, p auth.Principal, path string) (view, loc, error) {
	comps, err := ParsePath(path)
	if err != nil {
		return view{}, loc{}, err
	}
	v, err := s.view(ctx, p)
	if err != nil {
		return view{}, loc{}, err
	}
	return v, v.resolve(path, comps), nil
}

// record returns an audit record of p doing action on path.
func record(p auth.Principal, action, path string) audit.Record {
	return audit.Record{Actor: p.Name, SourceIP: p.SourceIP, Protocol: p.Protocol, Action: action, Path: path}
}

// fail audits a failed or denied operation and returns err. Denials (Permission,
// Unauthenticated, Invalid paths) are "denied"; the rest "error". Cleanup must outlive a
// canceled request, hence WithoutCancel.
func (s *Service) fail(ctx context.Context, p auth.Principal, action, path string, err error) error {
	rec := record(p, action, path)
	rec.Result = audit.Failed
	switch errs.KindOf(err) {
	case errs.Permission, errs.Unauthenticated, errs.Invalid:
		rec.Result = audit.Denied
	}
	if errors.Is(err, errHidden) {
		rec.Result = audit.Denied // a denial that the caller is told is NotFound
	}
	rec.Detail = errs.Detail(err)
	if aerr := s.audit.Append(context.WithoutCancel(ctx), rec); aerr != nil {
		s.log.Error("cannot write audit record", "action", action, "err", aerr)
	}
	return err
}

// errHidden is the cause of the NotFound that denied returns in place of Permission: the
// caller sees what a missing file would give, the audit log sees the denial.
var errHidden = errors.New("no such file or directory")

// denied is the error for an operation the caller may not do. For a folder the caller
// cannot even list, it is NotFound, so that names of other people's files do not leak.
func denied(op errs.Op, v view, l loc, what string) error {
	if !v.allowed(l, authz.List) {
		return errs.E(op, errs.NotFound, errs.Path(l.path), errHidden)
	}
	return errs.E(op, errs.Permission, errs.Path(l.path), "you may not "+what+" here")
}

// lockFolders makes writers of the same folders take turns until the transaction ends,
// so that each sees the entries and usage that the previous one committed: PostgreSQL
// runs transactions at READ COMMITTED, where two uploads could both find a name free (or
// the same old version to replace). SQLite has one writer at a time already. Taking the
// locks in id order avoids deadlocks.
func lockFolders(ctx context.Context, q db.Q, folderIDs ...int64) error {
	slices.Sort(folderIDs)
	for _, id := range slices.Compact(folderIDs) {
		if err := q.LockFolder(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// walk finds the directory that holds rel's last component, following rel[:len-1] in
// folder. With create, missing directories are made (the caller checked Write).
func (s *Service) walk(ctx context.Context, q db.Q, folderID int64, rel []string, create bool, now time.Time) (parentID int64, err error) {
	for i, name := range rel[:len(rel)-1] {
		e, err := q.LookupChild(ctx, folderID, parentID, name)
		if errs.Is(errs.NotFound, err) && create {
			e, err = q.InsertEntry(ctx, db.Entry{FolderID: folderID, ParentID: parentID, Name: name, IsDir: true, Created: now, Modified: now})
		}
		if err != nil {
			if errs.Is(errs.NotFound, err) {
				return 0, errs.E(errs.NotFound, errs.Path(Join(rel[:i+1]...)), "no such directory")
			}
			return 0, err
		}
		if !e.IsDir {
			return 0, errs.E(errs.NotDir, errs.Path(Join(rel[:i+1]...)), "not a directory")
		}
		parentID = e.ID
	}
	return parentID, nil
}

// lookup returns the entry at rel in folder. Errors: NotFound, NotDir.
func (s *Service) lookup(ctx context.Context, q db.Q, folderID int64, rel []string) (db.Entry, error) {
	parent, err := s.walk(ctx, q, folderID, rel, false, time.Time{})
	if err != nil {
		return db.Entry{}, err
	}
	e, err := q.LookupChild(ctx, folderID, parent, rel[len(rel)-1])
	if errs.Is(errs.NotFound, err) {
		return db.Entry{}, errs.E(errs.NotFound, "no such file or directory")
	}
	return e, err
}

// entry describes e to users. Its times are at the database's resolution (UTC
// microseconds), so that what Create and Mkdir return equals what Stat and List return.
func (s *Service) entry(l loc, e db.Entry, perm authz.Perm) Entry {
	out := Entry{Path: l.path, Name: e.Name, IsDir: e.IsDir, Size: e.Size, Modified: stored(e.Modified), Created: stored(e.Created), Perm: perm}
	if !e.IsDir {
		out.SHA256 = e.SHA256
	}
	return out
}

// stored returns t as the database keeps it.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// collect deletes blobs that a committed transaction unreferenced. A failure leaves them
// in garbage_blobs for CollectGarbage to retry.
func (s *Service) collect(ctx context.Context, ids []string) {
	ctx = context.WithoutCancel(ctx)
	for _, id := range ids {
		if err := s.blobs.Delete(ctx, blob.ID(id)); err != nil {
			s.log.Warn("cannot delete unreferenced blob; will retry", "blob", id, "err", err)
			continue
		}
		if err := s.db.Q().RemoveGarbage(ctx, id); err != nil {
			s.log.Warn("cannot forget deleted blob", "blob", id, "err", err)
		}
	}
}

// Refused records in the audit log a request that a protocol front-end refused before
// it could reach a use case (for example a URL whose path cannot be decoded), and
// returns err. action is the audit action the request would have been.
func (s *Service) Refused(ctx context.Context, p auth.Principal, action, rawPath string, err error) error {
	return s.fail(ctx, p, action, rawPath, err)
}
