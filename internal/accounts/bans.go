package accounts

import (
	"context"
	"net/netip"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/errs"
)

// SetDefender gives the service the defender whose bans administrators list and lift.
func (s *Service) SetDefender(d *defender.Service) { s.defender = d }

// Bans lists the address bans in force, the longest first; administrators only.
func (s *Service) Bans(ctx context.Context, actor auth.Principal) ([]db.Ban, error) {
	const op = errs.Op("accounts.Bans")
	if err := s.admin(ctx, actor, audit.ActUnban, "*"); err != nil {
		return nil, errs.E(op, err)
	}
	if s.defender == nil {
		return nil, nil
	}
	return s.defender.Bans(ctx, 1000)
}

// LiftBan ends the ban of address ip now; administrators only. Errors: Invalid (not an
// address), NotFound (no ban in force).
func (s *Service) LiftBan(ctx context.Context, actor auth.Principal, ip string) error {
	const op = errs.Op("accounts.LiftBan")
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return errs.E(op, errs.Invalid, "give an IPv4 or IPv6 address, as in the ban list or the audit log")
	}
	ip = a.Unmap().String()
	if err := s.admin(ctx, actor, audit.ActUnban, "ip:"+ip); err != nil {
		return errs.E(op, err)
	}
	if s.defender == nil {
		return errs.E(op, errs.NotFound, "address "+ip+" is not banned")
	}
	return s.defender.Lift(ctx, actor.Name, actor.SourceIP, actor.Protocol, ip)
}
