package files

import (
	"context"
	"strconv"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Mkdir makes the directory path. With parents, missing parents are made too and an
// existing directory is not an error (like mkdir -p). Errors: Invalid, NotFound,
// Permission, Exist, NotDir, Quota never (directories are free).
func (s *Service) Mkdir(ctx context.Context, p auth.Principal, path string, parents bool) (Entry, error) {
	const op = errs.Op("files.Mkdir")
	e, err := s.mkdir(ctx, p, path, parents)
	if err != nil {
		return Entry{}, s.fail(ctx, p, audit.ActDirCreate, path, errs.E(op, err))
	}
	return e, nil
}

func (s *Service) mkdir(ctx context.Context, p auth.Principal, path string, parents bool) (Entry, error) {
	v, l, err := s.begin(ctx, p, path)
	if err != nil {
		return Entry{}, err
	}
	if l.isRoot() || l.isMount() {
		if parents {
			return s.Stat(ctx, p, path)
		}
		return Entry{}, errs.E(errs.Exist, errs.Path(l.path), "already exists")
	}
	if !v.allowed(l, authz.Write) {
		return Entry{}, denied("", v, l, "create directories")
	}
	var out Entry
	err = s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, l.folder.ID); err != nil {
			return err
		}
		now := s.now()
		parent, err := s.walk(ctx, q, l.folder.ID, l.rel, parents, now)
		if err != nil {
			return err
		}
		name := l.rel[len(l.rel)-1]
		e, err := q.LookupChild(ctx, l.folder.ID, parent, name)
		switch {
		case err == nil && e.IsDir && parents:
			out = s.entry(l, e, v.perm(l))
			return nil
		case err == nil:
			return errs.E(errs.Exist, errs.Path(l.path), "already exists")
		case !errs.Is(errs.NotFound, err):
			return err
		}
		e, err = q.InsertEntry(ctx, db.Entry{FolderID: l.folder.ID, ParentID: parent, Name: name, IsDir: true, Created: now, Modified: now})
		if err != nil {
			return err
		}
		rec := record(p, audit.ActDirCreate, l.path)
		rec.Result = audit.OK
		if err := s.audit.AppendTx(ctx, q, rec); err != nil {
			return err
		}
		out = s.entry(l, e, v.perm(l))
		return nil
	})
	return out, err
}

// Rename moves the entry at from to to. Within one folder it needs Write; across folders
// it needs Read and Delete where it leaves and Write where it arrives. An existing file at to is
// replaced only with overwrite (and never by a directory); an existing directory is never
// replaced. Errors: Invalid, NotFound, Permission, Exist, NotDir, Quota, Conflict.
func (s *Service) Rename(ctx context.Context, p auth.Principal, from, to string, overwrite bool) error {
	const op = errs.Op("files.Rename")
	if err := s.rename(ctx, p, from, to, overwrite); err != nil {
		return s.fail(ctx, p, audit.ActFileRename, from, errs.E(op, err))
	}
	return nil
}

func (s *Service) rename(ctx context.Context, p auth.Principal, from, to string, overwrite bool) error {
	v, src, err := s.begin(ctx, p, from)
	if err != nil {
		return err
	}
	toComps, err := ParsePath(to)
	if err != nil {
		return err
	}
	dst := v.resolve(to, toComps)
	if src.isRoot() || src.isMount() {
		return errs.E(errs.Permission, errs.Path(src.path), "the root and shared folders cannot be moved")
	}
	if dst.isRoot() || dst.isMount() {
		return errs.E(errs.Exist, errs.Path(dst.path), "a folder of that name exists")
	}
	same := src.folder.ID == dst.folder.ID
	switch {
	case same && !v.allowed(src, authz.Write):
		return denied("", v, src, "rename")
	case !same && !v.allowed(src, authz.Read|authz.Delete):
		// Moving out hands the content to the destination: it needs Read as well as
		// Delete, or Delete plus a home of one's own would amount to Read.
		return denied("", v, src, "move files out")
	case !same && !v.allowed(dst, authz.Write):
		return denied("", v, dst, "move files in")
	}
	var garbage []string
	err = s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, src.folder.ID, dst.folder.ID); err != nil {
			return err
		}
		e, err := s.lookup(ctx, q, src.folder.ID, src.rel)
		if err != nil {
			return errs.E(errs.Path(src.path), err)
		}
		parent, err := s.walk(ctx, q, dst.folder.ID, dst.rel, false, time.Time{})
		if err != nil {
			return errs.E(errs.Path(dst.path), err)
		}
		name := dst.rel[len(dst.rel)-1]
		if e.IsDir && same && parent != 0 {
			inside, err := q.SubtreeContains(ctx, e.ID, parent)
			if err != nil {
				return err
			}
			if inside {
				return errs.E(errs.Invalid, errs.Path(dst.path), "cannot move a directory into itself")
			}
		}
		old, err := q.LookupChild(ctx, dst.folder.ID, parent, name)
		switch {
		case err == nil && old.ID == e.ID:
			return nil // renamed onto itself
		case err == nil && (old.IsDir || e.IsDir || !overwrite):
			return errs.E(errs.Exist, errs.Path(dst.path), "already exists")
		case err == nil:
			if err := q.DeleteEntry(ctx, old.ID); err != nil {
				return err
			}
			if err := s.charge(ctx, q, dst.folder.ID, -old.Size); err != nil {
				return err
			}
			if err := q.AddGarbage(ctx, old.BlobID); err != nil {
				return err
			}
			garbage = append(garbage, old.BlobID)
		case !errs.Is(errs.NotFound, err):
			return err
		}
		if !same {
			size, err := subtreeSize(ctx, q, e)
			if err != nil {
				return err
			}
			if err := s.charge(ctx, q, dst.folder.ID, size); err != nil {
				return err
			}
			if err := s.charge(ctx, q, src.folder.ID, -size); err != nil {
				return err
			}
			if err := q.SetSubtreeFolder(ctx, e.ID, dst.folder.ID); err != nil {
				return err
			}
		}
		if err := q.MoveEntry(ctx, e.ID, dst.folder.ID, parent, name); err != nil {
			return err
		}
		rec := record(p, audit.ActFileRename, src.path)
		rec.Target, rec.Result = dst.path, audit.OK
		return s.audit.AppendTx(ctx, q, rec)
	})
	if err != nil {
		return err
	}
	s.collect(ctx, garbage)
	return nil
}

func subtreeSize(ctx context.Context, q db.Q, e db.Entry) (int64, error) {
	if !e.IsDir {
		return e.Size, nil
	}
	files, err := q.SubtreeFiles(ctx, e.ID)
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n, err
}

// Delete removes the entry at path; a non-empty directory only with recursive.
// Errors: Invalid, NotFound, Permission, Conflict (directory not empty).
func (s *Service) Delete(ctx context.Context, p auth.Principal, path string, recursive bool) error {
	const op = errs.Op("files.Delete")
	if err := s.delete(ctx, p, path, recursive); err != nil {
		return s.fail(ctx, p, audit.ActFileDelete, path, errs.E(op, err))
	}
	return nil
}

func (s *Service) delete(ctx context.Context, p auth.Principal, path string, recursive bool) error {
	v, l, err := s.begin(ctx, p, path)
	if err != nil {
		return err
	}
	if l.isRoot() || l.isMount() {
		return errs.E(errs.Permission, errs.Path(l.path), "the root and shared folders cannot be deleted")
	}
	if !v.allowed(l, authz.Delete) {
		return denied("", v, l, "delete")
	}
	var garbage []string
	err = s.db.Tx(ctx, func(q db.Q) error {
		if err := lockFolders(ctx, q, l.folder.ID); err != nil {
			return err
		}
		e, err := s.lookup(ctx, q, l.folder.ID, l.rel)
		if err != nil {
			return errs.E(errs.Path(l.path), err)
		}
		action := audit.ActFileDelete
		files := []db.FileRef{{EntryID: e.ID, BlobID: e.BlobID, Size: e.Size}}
		if e.IsDir {
			action = audit.ActDirDelete
			if files, err = q.SubtreeFiles(ctx, e.ID); err != nil {
				return err
			}
			if !recursive {
				has, err := q.HasChildren(ctx, l.folder.ID, e.ID)
				if err != nil {
					return err
				}
				if has {
					return errs.E(errs.Conflict, errs.Path(l.path), "the directory is not empty")
				}
			}
		}
		var size int64
		for _, f := range files {
			size += f.Size
			if err := q.AddGarbage(ctx, f.BlobID); err != nil {
				return err
			}
			garbage = append(garbage, f.BlobID)
		}
		if err := q.DeleteSubtree(ctx, e.ID); err != nil {
			return err
		}
		if err := s.charge(ctx, q, l.folder.ID, -size); err != nil {
			return err
		}
		rec := record(p, action, l.path)
		rec.Bytes, rec.Result = size, audit.OK
		if len(files) > 1 || e.IsDir {
			rec.Detail = pluralFiles(len(files))
		}
		return s.audit.AppendTx(ctx, q, rec)
	})
	if err != nil {
		return err
	}
	s.collect(ctx, garbage)
	return nil
}

func pluralFiles(n int) string {
	if n == 1 {
		return "1 file"
	}
	return strconv.Itoa(n) + " files"
}

// SetModified sets the modification time of the entry at path (SFTP setstat, rsync-like
// clients). Errors: Invalid, NotFound, Permission.
func (s *Service) SetModified(ctx context.Context, p auth.Principal, path string, t time.Time) error {
	const op = errs.Op("files.SetModified")
	v, l, err := s.begin(ctx, p, path)
	if err != nil {
		return errs.E(op, err)
	}
	if l.isRoot() || l.isMount() {
		return nil // virtual: nothing to set
	}
	if !v.allowed(l, authz.Write) {
		return s.fail(ctx, p, audit.ActFileStat, path, errs.E(op, denied("", v, l, "change files")))
	}
	e, err := s.lookup(ctx, s.db.Q(), l.folder.ID, l.rel)
	if err != nil {
		return errs.E(op, errs.Path(l.path), err)
	}
	return s.db.Q().SetModified(ctx, e.ID, t)
}
