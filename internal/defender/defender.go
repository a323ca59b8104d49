// Package defender protects every protocol from guessing and scanning: front-ends and
// auth report suspicious events (a failed sign-in, a probed parcel link, a refused path
// attack, a broken SSH handshake), each with a weight; an address whose score within a
// window reaches the threshold is banned, for a time that doubles with each ban (capped).
// Front-ends ask Check when a connection or request starts, before any authentication.
// All state is in the database, so that the nodes of a cluster share scores and bans.
//
// It also applies the global address lists: an address outside a non-empty allow list,
// or inside the deny list, is refused like a banned one.
package defender

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Kind is what happened. Its weight is in Policy.Weights.
type Kind string

// The events front-ends report.
const (
	LoginFailed  Kind = "login.failed"  // a wrong password, key or second factor of an existing account
	UnknownUser  Kind = "login.unknown" // a sign-in as a user who does not exist
	BadToken     Kind = "token.bad"     // an API token that is malformed, unknown, wrong, expired or revoked
	LinkNotFound Kind = "link.notfound" // a parcel link (or a file of it) that does not exist: probing
	LinkRefused  Kind = "link.refused"  // a parcel passphrase that was wrong, or a link used up
	PathAttack   Kind = "path.attack"   // a path with "..", control characters... that no client sends
	SSHHandshake Kind = "ssh.handshake" // an SSH connection that ended before authentication without trying
)

// Policy sets the scoring.
type Policy struct {
	Weights   map[Kind]int
	Threshold int            // a score at which the address is banned
	Window    time.Duration  // how far back events count
	BanFor    time.Duration  // the first ban's length; each further ban doubles it
	MaxBan    time.Duration  // the longest ban
	Memory    time.Duration  // how long after a ban ends its strike is remembered (for the doubling)
	Allow     []netip.Prefix // when not empty, only these addresses may connect
	Deny      []netip.Prefix // these addresses may not connect
	// Exempt addresses are never scored nor banned: the load balancers that send PROXY
	// headers, whose own connections (health checks) carry their address, not a client's.
	Exempt []netip.Prefix
}

// DefaultPolicy bans an address that within 15 minutes fails 50 sign-ins, or tries 25
// names that do not exist or 25 bad API tokens, or probes 50 parcel links, or sends 10
// path attacks (or a mix): for 15 minutes, then 30, 60... up to a day. A person who
// mistypes a password is nowhere near it; the account lockout of package auth (5
// failures) stops guessing one account long before.
func DefaultPolicy() Policy {
	return Policy{
		Weights: map[Kind]int{LoginFailed: 1, UnknownUser: 2, BadToken: 2, LinkNotFound: 1, LinkRefused: 2,
			PathAttack: 5, SSHHandshake: 1},
		Threshold: 50,
		Window:    15 * time.Minute,
		BanFor:    15 * time.Minute,
		MaxBan:    24 * time.Hour,
		Memory:    7 * 24 * time.Hour,
	}
}

// Service scores events and keeps bans.
type Service struct {
	db     *db.DB
	audit  *audit.Log
	policy Policy
	now    func() time.Time
}

// New returns a Service.
func New(d *db.DB, a *audit.Log, p Policy) *Service {
	return &Service{db: d, audit: a, policy: p, now: time.Now}
}

// SetClock replaces the clock, for tests of windows and ban lengths.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Policy returns the policy.
func (s *Service) Policy() Policy { return s.policy }

// Event is one suspicious thing an address did.
type Event struct {
	Kind     Kind
	IP       string
	Protocol string // audit.HTTPS, audit.SFTP...
	User     string // the account named, if any, for the audit record
}

// Record scores ev and bans its address when the score reaches the threshold. An event
// without an address (a local command) or of an unknown kind is ignored.
func (s *Service) Record(ctx context.Context, ev Event) error {
	w := s.policy.Weights[ev.Kind]
	if ev.IP == "" || w <= 0 || s.policy.Threshold <= 0 || s.exempt(ev.IP) {
		return nil
	}
	now := s.now()
	return s.db.Tx(ctx, func(q db.Q) error {
		if err := q.AddDefenderEvent(ctx, ev.IP, string(ev.Kind), w, now); err != nil {
			return err
		}
		score, err := q.DefenderScore(ctx, ev.IP, now.Add(-s.policy.Window))
		if err != nil || score < int64(s.policy.Threshold) {
			return err
		}
		prev, had, err := q.BanByIP(ctx, ev.IP)
		if err != nil {
			return err
		}
		if had && prev.Until.After(now) {
			return nil // already banned (another node's request raced this one)
		}
		strikes := 1
		if had {
			strikes = prev.Strikes + 1
		}
		length := s.banLength(strikes)
		b := db.Ban{IP: ev.IP, Until: now.Add(length), Strikes: strikes, Created: now,
			Reason: fmt.Sprintf("score %d within %s (latest: %s)", score, s.policy.Window, ev.Kind)}
		if err := q.PutBan(ctx, b); err != nil {
			return err
		}
		if err := q.ClearDefenderEvents(ctx, ev.IP); err != nil {
			return err
		}
		return s.audit.AppendTx(ctx, q, audit.Record{Actor: ev.User, SourceIP: ev.IP, Protocol: ev.Protocol,
			Action: audit.ActBan, Path: "ip:" + ev.IP, Result: audit.OK,
			Detail: fmt.Sprintf("%s; ban %d, for %s", b.Reason, strikes, length)})
	})
}

// banLength is BanFor doubled for each strike after the first, at most MaxBan.
func (s *Service) banLength(strikes int) time.Duration {
	d := s.policy.BanFor
	for i := 1; i < strikes && d < s.policy.MaxBan; i++ {
		d *= 2
	}
	return min(d, s.policy.MaxBan)
}

// Check returns an error of kind Locked when ip may not connect now: it is banned, or
// the address lists exclude it. The message says until when and what to do.
func (s *Service) Check(ctx context.Context, ip string) error {
	const op = errs.Op("defender.Check")
	if ip == "" {
		return nil
	}
	if why := s.listed(ip); why != "" {
		return errs.E(op, errs.Locked, fmt.Sprintf("connections from %s are not accepted: %s", ip, why))
	}
	b, ok, err := s.db.Q().BanByIP(ctx, ip)
	if err != nil {
		return errs.E(op, err)
	}
	if ok && b.Until.After(s.now()) {
		return errs.E(op, errs.Locked, fmt.Sprintf("address %s is banned until %s UTC after repeated failed or suspicious requests; wait, or ask an administrator to lift the ban",
			ip, b.Until.UTC().Format("2006-01-02 15:04:05")))
	}
	return nil
}

// ParseList parses a comma-separated list of addresses and CIDR prefixes.
func ParseList(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if a, err := netip.ParseAddr(v); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix such as 10.0.0.0/24", v)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// exempt reports whether ip is never scored.
func (s *Service) exempt(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.policy.Exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// listed says why the address lists refuse ip, or "" when they do not.
func (s *Service) listed(ip string) string {
	if len(s.policy.Allow) == 0 && len(s.policy.Deny) == 0 {
		return ""
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "not an IP address"
	}
	a = a.Unmap()
	for _, p := range s.policy.Deny {
		if p.Contains(a) {
			return "the address is in the server's deny list (" + p.String() + ")"
		}
	}
	if len(s.policy.Allow) == 0 {
		return ""
	}
	for _, p := range s.policy.Allow {
		if p.Contains(a) {
			return ""
		}
	}
	return "the address is not in the server's allow list"
}

// Bans lists up to limit bans in force, the longest first.
func (s *Service) Bans(ctx context.Context, limit int) ([]db.Ban, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	bs, err := s.db.Q().ActiveBans(ctx, s.now(), limit)
	if err != nil {
		return nil, errs.E(errs.Op("defender.Bans"), err)
	}
	return bs, nil
}

// Lift ends ip's ban and forgets its strikes and events, audited as actor's act. An
// address that is not banned has its score reset all the same. Errors: NotFound (no ban
// in force).
func (s *Service) Lift(ctx context.Context, actor, sourceIP, protocol, ip string) error {
	const op = errs.Op("defender.Lift")
	now := s.now()
	banned := true
	err := s.db.Tx(ctx, func(q db.Q) error {
		b, ok, err := q.BanByIP(ctx, ip)
		if err != nil {
			return err
		}
		if !ok || !b.Until.After(now) {
			banned = false
			return q.ClearDefenderEvents(ctx, ip)
		}
		if err := q.DeleteBan(ctx, ip); err != nil {
			return err
		}
		if err := q.ClearDefenderEvents(ctx, ip); err != nil {
			return err
		}
		return s.audit.AppendTx(ctx, q, audit.Record{Actor: actor, SourceIP: sourceIP, Protocol: protocol,
			Action: audit.ActUnban, Path: "ip:" + ip, Result: audit.OK,
			Detail: fmt.Sprintf("ban %d lifted; it would have ended %s UTC", b.Strikes, b.Until.UTC().Format("2006-01-02 15:04:05"))})
	})
	if err != nil {
		return errs.E(op, err)
	}
	if !banned {
		return errs.E(op, errs.NotFound, fmt.Sprintf("address %s is not banned (its score is reset)", ip))
	}
	return nil
}

// Prune forgets events older than the window and strikes older than Memory.
func (s *Service) Prune(ctx context.Context) error {
	now := s.now()
	return s.db.Q().PruneDefender(ctx, now.Add(-s.policy.Window), now.Add(-s.policy.Memory))
}
