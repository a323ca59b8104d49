package parcel

import (
	"context"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Administrators see and revoke everyone's parcels.

// adminOnly fails with Permission, audited as action on path, unless p may manage accounts.
func (s *Service) adminOnly(ctx context.Context, p auth.Principal, action, id string) error {
	if _, err := s.user(ctx, p); err != nil {
		return err
	}
	if authz.ManageAccounts(p.Subject()) {
		return nil
	}
	return s.fail(ctx, ownerRecord(p, action, id), errs.E(errs.Permission, "only administrators may do this"))
}

// Search returns everyone's parcels whose owner, subject or a recipient's address contains
// text (case-insensitively; "" matches all), newest first, up to limit (at most 500).
// Recipients and files are not filled in. Errors: Permission (not an administrator).
func (s *Service) Search(ctx context.Context, p auth.Principal, text string, limit int) ([]Parcel, error) {
	const op = errs.Op("parcel.Search")
	// A read: refused without an audit record, like the other administration lists.
	if _, err := s.user(ctx, p); err != nil {
		return nil, errs.E(op, err)
	}
	if !authz.ManageAccounts(p.Subject()) {
		return nil, errs.E(op, errs.Permission, "only administrators may do this")
	}
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	rows, err := s.db.Q().SearchParcels(ctx, text, limit)
	if err != nil {
		return nil, errs.E(op, err)
	}
	out := make([]Parcel, 0, len(rows))
	for _, r := range rows {
		out = append(out, s.parcelOut(r))
	}
	return out, nil
}

// AdminRevoke revokes anyone's parcel, as an administrator; the audit record names the
// administrator and the owner. Errors: Permission, NotFound, Conflict (revoked already).
func (s *Service) AdminRevoke(ctx context.Context, p auth.Principal, id string) error {
	const op = errs.Op("parcel.AdminRevoke")
	if err := s.adminOnly(ctx, p, audit.ActParcelRevoke, id); err != nil {
		return errs.E(op, err)
	}
	rec := ownerRecord(p, audit.ActParcelRevoke, id)
	dp, err := s.db.Q().ParcelByID(ctx, id)
	if errs.Is(errs.NotFound, err) {
		err = errs.E(errs.NotFound, "no such parcel")
	}
	if err == nil {
		rec.Detail = "by an administrator; owner " + dp.OwnerName
		err = s.db.Tx(ctx, func(q db.Q) error {
			if err := q.RevokeParcel(ctx, id, s.now()); err != nil {
				if errs.Is(errs.NotFound, err) {
					return errs.E(errs.Conflict, "the parcel was revoked already")
				}
				return err
			}
			if err := s.revoked(ctx, q, id, ""); err != nil {
				return err
			}
			return s.audit.AppendTx(ctx, q, rec)
		})
	}
	if err != nil {
		return s.fail(ctx, rec, errs.E(op, err))
	}
	return nil
}
