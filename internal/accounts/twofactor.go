package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Web sessions and two-factor sign-in, as account management: listing and ending
// sessions, resetting and requiring 2FA. Signing in itself is auth.Web's.

// TwoFactor is a user's two-factor state.
type TwoFactor struct {
	Enrolled       time.Time // when TOTP was set up; zero when it is not active
	Pending        bool      // set-up was begun but not confirmed
	RecoveryLeft   int64     // unused recovery codes
	RequiredOfUser bool      // an administrator requires 2FA of this user
	RequiredOfAll  bool      // the setting that requires 2FA of every user is on
}

// Active reports whether the user signs in with a second factor.
func (t TwoFactor) Active() bool { return !t.Enrolled.IsZero() }

// Required reports whether the user must sign in with a second factor.
func (t TwoFactor) Required() bool { return t.RequiredOfUser || t.RequiredOfAll }

// TwoFactor returns user's two-factor state: one's own, or anyone's for an administrator.
func (s *Service) TwoFactor(ctx context.Context, actor auth.Principal, user string) (TwoFactor, error) {
	const op = errs.Op("accounts.TwoFactor")
	if actor.Name != user {
		if err := s.admin(ctx, actor, audit.Act2FARequire, user); err != nil {
			return TwoFactor{}, errs.E(op, err)
		}
	}
	q := s.db.Q()
	u, err := userByName(ctx, q, user)
	if err != nil {
		return TwoFactor{}, errs.E(op, err)
	}
	tf, err := q.TwoFactor(ctx, u.ID)
	if err != nil {
		return TwoFactor{}, errs.E(op, err)
	}
	all, err := q.Require2FAForAll(ctx)
	if err != nil {
		return TwoFactor{}, errs.E(op, err)
	}
	return TwoFactor{Enrolled: tf.Enrolled, Pending: tf.Pending, RecoveryLeft: tf.RecoveryLeft,
		RequiredOfUser: tf.Required, RequiredOfAll: all}, nil
}

// ResetTOTP removes user's TOTP key and recovery codes and ends all their web sessions;
// administrators only. When 2FA is required of the user, their next sign-in must set it
// up again. Resetting a user without 2FA only ends their sessions.
func (s *Service) ResetTOTP(ctx context.Context, actor auth.Principal, user string) error {
	const op = errs.Op("accounts.ResetTOTP")
	if err := s.admin(ctx, actor, audit.Act2FAReset, user); err != nil {
		return errs.E(op, err)
	}
	rec := record(actor, audit.Act2FAReset, user)
	err := s.change(ctx, &rec, func(q db.Q) error {
		u, err := userByName(ctx, q, user)
		if err != nil {
			return err
		}
		had, err := q.DeleteTOTPKey(ctx, u.ID)
		if err != nil {
			return err
		}
		codes, err := q.DeleteRecoveryCodes(ctx, u.ID)
		if err != nil {
			return err
		}
		ended, err := q.DeleteUserWebSessions(ctx, u.ID)
		if err != nil {
			return err
		}
		rec.Detail = fmt.Sprintf("totp key removed: %v; %d recovery codes deleted; %d web sessions ended", had, codes, ended)
		return nil
	})
	if err != nil {
		return errs.E(op, err)
	}
	return nil
}

// Require2FA sets whether user must sign in with a second factor; administrators only.
// Turning it on ends the user's web sessions unless they have 2FA already, so that their
// next sign-in sets it up.
func (s *Service) Require2FA(ctx context.Context, actor auth.Principal, user string, on bool) error {
	const op = errs.Op("accounts.Require2FA")
	if err := s.admin(ctx, actor, audit.Act2FARequire, user); err != nil {
		return errs.E(op, err)
	}
	rec := record(actor, audit.Act2FARequire, user)
	rec.Detail = onOff(on)
	err := s.change(ctx, &rec, func(q db.Q) error {
		u, err := userByName(ctx, q, user)
		if err != nil {
			return err
		}
		if err := q.SetRequire2FA(ctx, u.ID, on); err != nil {
			return err
		}
		if on {
			n, err := q.DeleteWebSessionsWithout2FA(ctx, u.ID)
			if err != nil {
				return err
			}
			rec.Detail += fmt.Sprintf("; %d web sessions without 2FA ended", n)
		}
		return nil
	})
	if err != nil {
		return errs.E(op, err)
	}
	return nil
}

// Require2FAForAll sets whether every user must sign in with a second factor;
// administrators only. Turning it on ends the web sessions of every user without 2FA.
func (s *Service) Require2FAForAll(ctx context.Context, actor auth.Principal, on bool) error {
	const op = errs.Op("accounts.Require2FAForAll")
	if err := s.admin(ctx, actor, audit.Act2FARequire, "*"); err != nil {
		return errs.E(op, err)
	}
	rec := record(actor, audit.Act2FARequire, "*")
	rec.Detail = "all users: " + onOff(on)
	err := s.change(ctx, &rec, func(q db.Q) error {
		if err := q.SetRequire2FAForAll(ctx, on); err != nil {
			return err
		}
		if on && actor.UserID > 0 {
			// An administrator of the web or the API without 2FA would be signed out by
			// this very change (the command line's local administrator has no sessions).
			tf, err := q.TwoFactor(ctx, actor.UserID)
			if err != nil {
				return err
			}
			if tf.Enrolled.IsZero() {
				return errs.E(errs.Conflict, "set up two-step verification for yourself first (under My account): requiring it of everyone signs out everyone who has not")
			}
		}
		if on {
			n, err := q.DeleteWebSessionsWithout2FA(ctx, 0)
			if err != nil {
				return err
			}
			rec.Detail += fmt.Sprintf("; %d web sessions without 2FA ended", n)
		}
		return nil
	})
	if err != nil {
		return errs.E(op, err)
	}
	return nil
}

// Settings are the server-wide settings kept in the database.
type Settings struct {
	Require2FA bool // every user must sign in with a second factor
}

// Settings returns the server-wide settings; administrators only.
func (s *Service) Settings(ctx context.Context, actor auth.Principal) (Settings, error) {
	if err := s.admin(ctx, actor, audit.Act2FARequire, "*"); err != nil {
		return Settings{}, err
	}
	all, err := s.db.Q().Require2FAForAll(ctx)
	if err != nil {
		return Settings{}, errs.E(errs.Op("accounts.Settings"), err)
	}
	return Settings{Require2FA: all}, nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// ListSessions lists user's web sessions, expired ones included until they are pruned:
// one's own, or anyone's for an administrator. They never include secrets.
func (s *Service) ListSessions(ctx context.Context, actor auth.Principal, user string) ([]auth.WebSession, error) {
	const op = errs.Op("accounts.ListSessions")
	if actor.Name != user {
		if err := s.admin(ctx, actor, audit.ActSessionEnd, user); err != nil {
			return nil, errs.E(op, err)
		}
	}
	q := s.db.Q()
	u, err := userByName(ctx, q, user)
	if err != nil {
		return nil, errs.E(op, err)
	}
	rows, err := q.UserWebSessions(ctx, u.ID)
	if err != nil {
		return nil, errs.E(op, err)
	}
	return sessionInfos(rows), nil
}

// EndSession ends the web session with public id id: one's own, or anyone's for an
// administrator. (To end the session one is using, sign out.) Errors: NotFound, also for
// another user's session when the actor is not an administrator.
func (s *Service) EndSession(ctx context.Context, actor auth.Principal, id string) error {
	const op = errs.Op("accounts.EndSession")
	notFound := errs.E(op, errs.NotFound, fmt.Sprintf("no session %q", clip(id)))
	ws, err := s.db.Q().WebSessionByID(ctx, id)
	if errs.Is(errs.NotFound, err) {
		return notFound
	}
	if err != nil {
		return errs.E(op, err)
	}
	if ws.UserID != actor.UserID {
		if err := s.admin(ctx, actor, audit.ActSessionEnd, ws.UserName); err != nil {
			return notFound
		}
	}
	rec := record(actor, audit.ActSessionEnd, ws.UserName)
	rec.Target = "session " + id
	err = s.change(ctx, &rec, func(q db.Q) error { return q.DeleteWebSession(ctx, id) })
	if errs.Is(errs.NotFound, err) {
		return notFound
	}
	if err != nil {
		return errs.E(op, err)
	}
	return nil
}
