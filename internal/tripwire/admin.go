package tripwire

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// admin returns Permission, audited, unless actor may manage accounts.
func (s *Service) admin(ctx context.Context, actor auth.Principal, action, target string) error {
	if authz.ManageAccounts(actor.Subject()) {
		return nil
	}
	rec := record(actor, action, target)
	rec.Result, rec.Detail = audit.Denied, "administrator role required"
	if err := s.audit.Append(context.WithoutCancel(ctx), rec); err != nil {
		return err
	}
	return errs.E(errs.Permission, "only administrators may do this")
}

func record(actor auth.Principal, action, target string) audit.Record {
	return audit.Record{Actor: actor.Name, SourceIP: actor.SourceIP, Protocol: actor.Protocol, Action: action, Target: target, Result: audit.OK}
}

// Alerts lists up to limit alerts with ids below before (0: the newest), newest first;
// with open, only those not yet acknowledged. Administrators only.
func (s *Service) Alerts(ctx context.Context, actor auth.Principal, open bool, before int64, limit int) ([]db.Alert, error) {
	if err := s.admin(ctx, actor, audit.ActAlertAck, "*"); err != nil {
		return nil, errs.E(errs.Op("tripwire.Alerts"), err)
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	return s.db.Q().ListAlerts(ctx, open, before, limit)
}

// Acknowledge marks an open alert as seen. Errors: Permission, NotFound.
func (s *Service) Acknowledge(ctx context.Context, actor auth.Principal, id int64) error {
	const op = errs.Op("tripwire.Acknowledge")
	target := strconv.FormatInt(id, 10)
	if err := s.admin(ctx, actor, audit.ActAlertAck, target); err != nil {
		return errs.E(op, err)
	}
	err := s.db.Tx(ctx, func(q db.Q) error {
		if err := q.AcknowledgeAlert(ctx, id, s.now(), actor.Name); err != nil {
			if errs.Is(errs.NotFound, err) {
				return errs.E(errs.NotFound, fmt.Sprintf("no open alert %d", id))
			}
			return err
		}
		return s.audit.AppendTx(ctx, q, record(actor, audit.ActAlertAck, target))
	})
	if err != nil {
		return errs.E(op, err)
	}
	return nil
}

// Lift ends the suspension of the account user. The tripwires that suspended it today do
// not suspend it again today: lifting is the administrator's judgement that the
// downloads were legitimate. Errors: Permission, NotFound, Conflict (not suspended).
func (s *Service) Lift(ctx context.Context, actor auth.Principal, user string) error {
	const op = errs.Op("tripwire.Lift")
	if err := s.admin(ctx, actor, audit.ActSuspendLift, user); err != nil {
		return errs.E(op, err)
	}
	err := s.db.Tx(ctx, func(q db.Q) error {
		u, err := q.UserByName(ctx, user)
		if err != nil {
			return errs.E(errs.NotFound, fmt.Sprintf("no user named %q", user))
		}
		if u.Suspended.IsZero() {
			return errs.E(errs.Conflict, fmt.Sprintf("%q is not suspended", user))
		}
		if err := q.SetSuspended(ctx, u.ID, time.Time{}); err != nil {
			return err
		}
		rec := record(actor, audit.ActSuspendLift, user)
		rec.Detail = "suspended since " + u.Suspended.Format(time.RFC3339)
		return s.audit.AppendTx(ctx, q, rec)
	})
	if err != nil {
		return errs.E(op, err)
	}
	return nil
}
