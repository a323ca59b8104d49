package files

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

// SetTripwires makes every download and listing go past t (docs/tripwires.md). Without
// it, none do.
func (s *Service) SetTripwires(t *tripwire.Service) { s.trip = t }

// Place names an entry for an administrator, whose own tree may not show it: a path in
// the shared folder Folder, or in the home of the user User (exactly one of the two).
type Place struct {
	Folder string
	User   string
	Path   string
}

func (pl Place) String() string {
	if pl.User != "" {
		return "~" + pl.User + pl.Path
	}
	return pl.Folder + ":" + pl.Path
}

// folderOf resolves the folder of pl. Errors: Invalid, NotFound.
func (s *Service) folderOf(ctx context.Context, q db.Q, pl Place) (int64, error) {
	switch {
	case (pl.Folder == "") == (pl.User == ""):
		return 0, errs.E(errs.Invalid, "name exactly one of a shared folder or a user (whose home it is)")
	case pl.User != "":
		u, err := q.UserByName(ctx, pl.User)
		if err != nil {
			return 0, errs.E(errs.NotFound, fmt.Sprintf("no user named %q", pl.User))
		}
		return u.HomeFolderID, nil
	}
	f, err := q.FolderByName(ctx, pl.Folder)
	if err != nil {
		return 0, errs.E(errs.NotFound, fmt.Sprintf("no shared folder named %q", pl.Folder))
	}
	return f.ID, nil
}

// adminOnly returns Permission, audited, unless actor may manage accounts.
func (s *Service) adminOnly(ctx context.Context, actor auth.Principal, action, path string) error {
	if authz.ManageAccounts(actor.Subject()) {
		return nil
	}
	return s.fail(ctx, actor, action, path, errs.E(errs.Permission, "only administrators may do this"))
}

// SetCanary marks (on) or unmarks the file or directory at pl as a canary: every read of
// it, and every listing that shows it, fires the canary tripwire. Administrators only.
// Errors: Permission, Invalid, NotFound.
func (s *Service) SetCanary(ctx context.Context, actor auth.Principal, pl Place, on bool) error {
	const op = errs.Op("files.SetCanary")
	if err := s.adminOnly(ctx, actor, audit.ActCanarySet, pl.String()); err != nil {
		return errs.E(op, err)
	}
	comps, err := ParsePath(pl.Path)
	if err == nil && len(comps) == 0 {
		err = errs.E(errs.Invalid, "a folder's root cannot be a canary: mark a file or directory in it")
	}
	if err != nil {
		return errs.E(op, err)
	}
	rec := record(actor, audit.ActCanarySet, pl.String())
	rec.Result, rec.Detail = audit.OK, "marked"
	if !on {
		rec.Detail = "unmarked"
	}
	err = s.db.Tx(ctx, func(q db.Q) error {
		folderID, err := s.folderOf(ctx, q, pl)
		if err != nil {
			return err
		}
		e, err := s.lookup(ctx, q, folderID, comps)
		if err != nil {
			return errs.E(errs.Path(pl.Path), err)
		}
		if err := q.SetCanary(ctx, e.ID, on, s.now(), actor.Name); err != nil {
			if errs.Is(errs.NotFound, err) {
				return errs.E(errs.NotFound, errs.Path(pl.Path), "not a canary")
			}
			return err
		}
		return s.audit.AppendTx(ctx, q, rec)
	})
	if err != nil {
		return s.fail(ctx, actor, audit.ActCanarySet, pl.String(), errs.E(op, err))
	}
	return nil
}

// CreateDecoy stores content as a new file named pl.Path (one name, at the folder's
// root, where a mass download meets it first) and marks it as a canary, in one
// transaction. Administrators only. Errors: Permission, Invalid, NotFound, Exist, Quota.
func (s *Service) CreateDecoy(ctx context.Context, actor auth.Principal, pl Place, content io.Reader, size int64) (Entry, error) {
	const op = errs.Op("files.CreateDecoy")
	if err := s.adminOnly(ctx, actor, audit.ActCanarySet, pl.String()); err != nil {
		return Entry{}, errs.E(op, err)
	}
	comps, err := ParsePath(pl.Path)
	if err == nil && len(comps) != 1 {
		err = errs.E(errs.Invalid, "a decoy is made at a folder's root: give one name, such as /passwords.xlsx")
	}
	var folderID int64
	if err == nil {
		folderID, err = s.folderOf(ctx, s.db.Q(), pl)
	}
	if err != nil {
		return Entry{}, s.fail(ctx, actor, audit.ActCanarySet, pl.String(), errs.E(op, err))
	}
	rec := record(actor, audit.ActCanarySet, pl.String())
	rec.Result, rec.Detail = audit.OK, "decoy created and marked"
	e, err := s.PutOwned(ctx, folderID, comps[0], content, OwnedPut{Size: size, Publish: func(q db.Q, e Entry) error {
		le, err := q.LookupChild(ctx, folderID, 0, comps[0])
		if err != nil {
			return err
		}
		if err := q.SetCanary(ctx, le.ID, true, s.now(), actor.Name); err != nil {
			return err
		}
		rec.Bytes = e.Size
		return s.audit.AppendTx(ctx, q, rec)
	}})
	if err != nil {
		return Entry{}, s.fail(ctx, actor, audit.ActCanarySet, pl.String(), errs.E(op, err))
	}
	return e, nil
}

// CanaryMark is a canary as administrators see it.
type CanaryMark struct {
	Place
	IsDir     bool
	Created   time.Time
	CreatedBy string
}

// Canaries lists the canary marks, with each entry's full path. Administrators only.
func (s *Service) Canaries(ctx context.Context, actor auth.Principal) ([]CanaryMark, error) {
	const op = errs.Op("files.Canaries")
	if err := s.adminOnly(ctx, actor, audit.ActCanarySet, "*"); err != nil {
		return nil, errs.E(op, err)
	}
	q := s.db.Q()
	cs, err := q.ListCanaries(ctx)
	if err != nil {
		return nil, errs.E(op, err)
	}
	out := make([]CanaryMark, 0, len(cs))
	for _, c := range cs {
		path, err := s.pathOf(ctx, q, c.EntryID)
		if err != nil {
			return nil, errs.E(op, err)
		}
		out = append(out, CanaryMark{Place: Place{Folder: c.Folder, User: c.Owner, Path: path}, IsDir: c.IsDir, Created: c.Created, CreatedBy: c.CreatedBy})
	}
	return out, nil
}

// pathOf returns the path of an entry within its folder, following its parents.
func (s *Service) pathOf(ctx context.Context, q db.Q, id int64) (string, error) {
	var names []string
	for depth := 0; id != 0; depth++ {
		if depth > maxCanaryDepth {
			return "", errs.E(errs.Integrity, "a directory loop in the entries table")
		}
		e, err := q.EntryByID(ctx, id)
		if err != nil {
			return "", err
		}
		names = append(names, e.Name)
		id = e.ParentID
	}
	slices.Reverse(names)
	return Join(names...), nil
}

// maxCanaryDepth bounds the walk up from a canary to its folder's root.
const maxCanaryDepth = 4096
