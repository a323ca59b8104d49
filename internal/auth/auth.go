// Package auth establishes who is asking: passwords (argon2id), API tokens, web sessions
// with a TOTP second factor (Web, in web.go), and the lockout that stops guessing. Every
// protocol front-end calls the same methods, so there is one authentication path per
// credential type and it fails closed. Successes and failures are audited here.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Principal is an authenticated user, as the files layer and the front-ends see them.
type Principal struct {
	UserID   int64
	Name     string
	Admin    bool
	Protocol string // audit.HTTPS, audit.SFTP, audit.CLI...
	SourceIP string
	TokenID  string // set when authenticated by an API token
	// SessionID is the public id of the web session that authenticated this request, if
	// one did (never the session's secret).
	SessionID string
}

// Subject is p for authorisation decisions.
func (p Principal) Subject() authz.Subject { return authz.Subject{UserID: p.UserID, Admin: p.Admin} }

// Client describes where a request comes from.
type Client struct {
	IP       string
	Protocol string
	// UserAgent is the HTTP User-Agent, recorded (truncated) with web sessions so that a
	// user can tell their sessions apart. Other protocols leave it empty.
	UserAgent string
}

// Policy sets the lockout and token rules.
type Policy struct {
	MaxUserFailures int           // failed sign-ins for one account within Window before it is locked
	MaxIPFailures   int           // failed sign-ins (or bad tokens) from one address within Window before it is blocked
	Window          time.Duration // how far back failures count
	LockFor         time.Duration // how long a lockout lasts
	TokenTTL        time.Duration // default lifetime of a new API token
	MaxTokenTTL     time.Duration // longest lifetime a token may be given
}

// DefaultPolicy is what Coffer uses unless configured otherwise.
var DefaultPolicy = Policy{
	MaxUserFailures: 5,
	MaxIPFailures:   20,
	Window:          15 * time.Minute,
	LockFor:         15 * time.Minute,
	TokenTTL:        30 * 24 * time.Hour,
	MaxTokenTTL:     366 * 24 * time.Hour,
}

// Service authenticates.
type Service struct {
	db     *db.DB
	audit  *audit.Log
	policy Policy
	now    func() time.Time
	hashes chan struct{} // bounds concurrent argon2id computations (19 MiB each)
	// defender scores every failure against the client's address, across protocols
	// (nil: no scoring, as in tests of auth alone).
	defender *defender.Service
}

// New returns a Service.
func New(d *db.DB, a *audit.Log, p Policy) *Service {
	return &Service{db: d, audit: a, policy: p, now: time.Now, hashes: make(chan struct{}, 2)}
}

// SetDefender makes every failed sign-in and bad token count toward a ban of its address.
func (s *Service) SetDefender(d *defender.Service) { s.defender = d }

// SetClock replaces the clock, for tests of expiry and lockout.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Policy returns the service's policy.
func (s *Service) Policy() Policy { return s.policy }

const (
	scopeUser = "user"
	scopeIP   = "ip"
)

// dummyHash is checked when the user does not exist, so that the answer takes as long
// as for a real user and does not reveal which names exist.
var dummyHash = sync.OnceValue(func() string { h, _ := HashPassword("coffer-dummy-password"); return h })

func (s *Service) checkPassword(ctx context.Context, hash, password string) (bool, error) {
	select {
	case s.hashes <- struct{}{}:
	case <-ctx.Done():
		return false, errs.E(errs.Canceled, ctx.Err())
	}
	defer func() { <-s.hashes }()
	return CheckPassword(hash, password), nil
}

var errBadCredentials = errs.E(errs.Unauthenticated, "wrong user name or password")

// ErrPasswordNeeds2FA is why Password refuses the right password of a user who enrolled
// a second factor.
var ErrPasswordNeeds2FA = errors.New("this account uses two-step verification, so its password alone signs in only to the web interface (which asks for the code): " +
	"use an SSH key for SFTP, and create API tokens on the web interface's account page")

// Password signs in name with password from c. Errors: Unauthenticated (wrong name or
// password, disabled account: the same message for all, so as not to reveal which),
// Locked (too many failures; the message says until when).
func (s *Service) Password(ctx context.Context, name, password string, c Client) (Principal, error) {
	const op = errs.Op("auth.Password")
	rec := audit.Record{Actor: name, SourceIP: c.IP, Protocol: c.Protocol, Action: audit.ActLogin, Detail: "password"}
	u, err := s.verifyPassword(ctx, name, password, passwordProto(c), c, rec)
	if err != nil {
		return Principal{}, errs.E(op, err)
	}
	// A user who enrolled a second factor has said that the password alone is not enough:
	// here there is no way to ask for the code, so the password alone must not sign in
	// (it would bypass the TOTP that the web interface asks for).
	tf, err := s.db.Q().TwoFactor(ctx, u.ID)
	if err != nil {
		return Principal{}, errs.E(op, err)
	}
	if !tf.Enrolled.IsZero() {
		rec.Result, rec.Detail = audit.Denied, "password: refused, the account has two-step verification (the password alone is not enough here)"
		if aerr := s.audit.Append(ctx, rec); aerr != nil {
			return Principal{}, errs.E(op, aerr)
		}
		return Principal{}, errs.E(op, errs.Unauthenticated, ErrPasswordNeeds2FA)
	}
	rec.Result = audit.OK
	if err := s.db.Tx(ctx, func(q db.Q) error {
		if err := q.ClearLoginFailures(ctx, scopeUser, name); err != nil {
			return err
		}
		return s.audit.AppendTx(ctx, q, rec)
	}); err != nil {
		return Principal{}, errs.E(op, err)
	}
	return Principal{UserID: u.ID, Name: u.Name, Admin: u.Admin, Protocol: c.Protocol, SourceIP: c.IP}, nil
}

// verifyPassword checks name's password, refusing locked-out accounts and addresses, and
// records (audited, toward the lockout) a failure. The user's own limits (address, proto)
// refuse it whatever the password, with a message that says so: counted like a wrong
// password, as for a disabled account, but never revealing whether the password was right.
// On success it neither audits nor clears the account's failures: that is for the caller,
// once the sign-in is complete.
func (s *Service) verifyPassword(ctx context.Context, name, password, proto string, c Client, rec audit.Record) (db.User, error) {
	if err := s.checkLocked(ctx, name, c, rec); err != nil {
		return db.User{}, err
	}
	q := s.db.Q()
	u, err := q.UserByName(ctx, name)
	if err != nil && !errs.Is(errs.NotFound, err) {
		return db.User{}, err
	}
	hash := u.PasswordHash
	if err != nil || hash == "" {
		hash = dummyHash()
	}
	ok, cerr := s.checkPassword(ctx, hash, password)
	if cerr != nil {
		return db.User{}, cerr
	}
	kind := defender.LoginFailed
	var refused error
	if err == nil {
		var why string
		if why, refused = access(u.AllowedIPs, u.Protocols, proto, c); refused != nil {
			rec.Detail += ": " + why
			ok = false
		}
	}
	switch {
	case refused != nil:
	case err != nil:
		rec.Detail += ": no such user"
		kind = defender.UnknownUser
	case u.PasswordHash == "":
		rec.Detail += ": password sign-in not set up for this user"
		ok = false
	case !u.PasswordLogin:
		rec.Detail += ": password sign-in is turned off for this user (keys only)"
		ok = false
	case !ok:
		rec.Detail += ": wrong password"
	case u.Disabled:
		rec.Detail += ": account disabled"
		ok = false
	}
	if !ok {
		ferr := s.fail(ctx, name, c, rec, kind)
		if refused != nil && errs.Is(errs.Unauthenticated, ferr) {
			return db.User{}, errs.E(errs.Unauthenticated, refused)
		}
		return db.User{}, ferr
	}
	if err := s.refuseSuspended(ctx, u, rec); err != nil {
		return db.User{}, err
	}
	return u, nil
}

// ErrSuspended is why a suspended account cannot sign in (docs/tripwires.md).
var ErrSuspended = errors.New("the account is suspended pending review after a download tripwire fired: ask an administrator to review its alerts and lift the suspension")

// refuseSuspended returns Unauthenticated, audited, when a tripwire suspended u. Unlike a
// wrong password it does not count toward lockout, and it says why: the credentials were
// right, so the message tells the account's owner nothing they could not know.
func (s *Service) refuseSuspended(ctx context.Context, u db.User, rec audit.Record) error {
	if u.Suspended.IsZero() {
		return nil
	}
	rec.Actor, rec.Result = u.Name, audit.Denied
	rec.Detail += ": account suspended by a tripwire since " + u.Suspended.Format(time.RFC3339)
	if err := s.audit.Append(context.WithoutCancel(ctx), rec); err != nil {
		return err
	}
	return errs.E(errs.Unauthenticated, ErrSuspended)
}

// checkLocked returns Locked, audited, when the account or the address is locked out.
func (s *Service) checkLocked(ctx context.Context, name string, c Client, rec audit.Record) error {
	return s.checkLockouts(ctx, name, true, c, rec)
}

// checkAddressLocked is checkLocked for a credential that cannot be guessed (an SSH key,
// an API token): only the address's lockout refuses it.
func (s *Service) checkAddressLocked(ctx context.Context, name string, c Client, rec audit.Record) error {
	return s.checkLockouts(ctx, name, false, c, rec)
}

func (s *Service) checkLockouts(ctx context.Context, name string, account bool, c Client, rec audit.Record) error {
	now := s.now()
	q := s.db.Q()
	for _, sub := range []struct{ scope, subject, what string }{{scopeIP, c.IP, "address " + c.IP}, {scopeUser, name, "account " + name}} {
		if sub.subject == "" || sub.scope == scopeUser && !account {
			continue
		}
		until, err := q.LockoutUntil(ctx, sub.scope, sub.subject)
		if err != nil {
			return err
		}
		if until.After(now) {
			rec.Result = audit.Denied
			rec.Detail = rec.Detail + ": " + sub.what + " locked out"
			if err := s.audit.Append(ctx, rec); err != nil {
				return err
			}
			// Trying on while locked out is what a guessing program does: it scores.
			if err := s.score(ctx, defender.LoginFailed, name, c); err != nil {
				return err
			}
			return errs.E(errs.Locked, fmt.Errorf("too many failed sign-ins: %s is locked until %s UTC; wait, or ask an administrator to unlock it",
				sub.what, until.UTC().Format("2006-01-02 15:04:05")))
		}
	}
	return nil
}

// fail records a failed sign-in, locks out the account or address when it passes the
// policy's limits, and returns the error for the client.
func (s *Service) fail(ctx context.Context, name string, c Client, rec audit.Record, kind defender.Kind) error {
	now := s.now()
	rec.Result = audit.Denied
	err := s.db.Tx(ctx, func(q db.Q) error {
		if err := s.audit.AppendTx(ctx, q, rec); err != nil {
			return err
		}
		for _, sub := range []struct {
			scope, subject string
			limit          int
		}{{scopeUser, name, s.policy.MaxUserFailures}, {scopeIP, c.IP, s.policy.MaxIPFailures}} {
			if sub.subject == "" || sub.limit <= 0 {
				continue
			}
			if err := q.AddLoginFailure(ctx, sub.scope, sub.subject, now); err != nil {
				return err
			}
			n, err := q.CountLoginFailures(ctx, sub.scope, sub.subject, now.Add(-s.policy.Window))
			if err != nil {
				return err
			}
			if n >= int64(sub.limit) {
				if err := q.SetLockout(ctx, sub.scope, sub.subject, now.Add(s.policy.LockFor)); err != nil {
					return err
				}
				if err := s.audit.AppendTx(ctx, q, audit.Record{Actor: name, SourceIP: c.IP, Protocol: c.Protocol,
					Action: audit.ActLockout, Path: sub.scope + ":" + sub.subject, Result: audit.OK,
					Detail: fmt.Sprintf("%d failed sign-ins within %s; locked for %s", n, s.policy.Window, s.policy.LockFor)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.score(ctx, kind, name, c); err != nil {
		return err
	}
	return errBadCredentials
}

// score reports a failure to the defender, if there is one.
func (s *Service) score(ctx context.Context, kind defender.Kind, name string, c Client) error {
	if s.defender == nil {
		return nil
	}
	return s.defender.Record(ctx, defender.Event{Kind: kind, IP: c.IP, Protocol: c.Protocol, User: name})
}

// Unlock lifts a lockout of an account ("user") or an address ("ip") and forgets its failures.
func (s *Service) Unlock(ctx context.Context, scope, subject string) error {
	if scope != scopeUser && scope != scopeIP {
		return errs.E(errs.Invalid, "scope must be user or ip")
	}
	return s.db.Tx(ctx, func(q db.Q) error {
		if err := q.ClearLoginFailures(ctx, scope, subject); err != nil {
			return err
		}
		err := q.DeleteLockout(ctx, scope, subject)
		if errs.Is(errs.NotFound, err) {
			return nil
		}
		return err
	})
}

// Token format: "coffer_" + id (16 base32 chars) + "_" + secret (52 base32 chars = 256 bits).
// The id finds the row; only SHA-256(secret) is stored. The secret has full entropy, so a
// fast hash is right here (argon2id is for low-entropy passwords).
const tokenPrefix = "coffer_"

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// IssueToken creates an API token for userID valid for ttl (the policy's default when 0)
// and returns the secret string, which is shown once and never stored.
func (s *Service) IssueToken(ctx context.Context, q db.Q, userID int64, name string, ttl time.Duration) (string, db.Token, error) {
	const op = errs.Op("auth.IssueToken")
	if ttl == 0 {
		ttl = s.policy.TokenTTL
	}
	if ttl < time.Minute || ttl > s.policy.MaxTokenTTL {
		return "", db.Token{}, errs.E(op, errs.Invalid, fmt.Sprintf("token lifetime must be between 1m and %s", s.policy.MaxTokenTTL))
	}
	if len(name) > 100 {
		return "", db.Token{}, errs.E(op, errs.Invalid, "token name longer than 100 bytes")
	}
	idBytes := make([]byte, 10)
	secret := make([]byte, 32)
	rand.Read(idBytes)
	rand.Read(secret)
	id := strings.ToLower(b32.EncodeToString(idBytes))
	sec := strings.ToLower(b32.EncodeToString(secret))
	sum := sha256.Sum256([]byte(sec))
	now := s.now()
	t := db.Token{ID: id, UserID: userID, SecretHash: sum[:], Name: name, Created: now, Expires: now.Add(ttl)}
	if err := q.InsertToken(ctx, t); err != nil {
		return "", db.Token{}, errs.E(op, err)
	}
	return tokenPrefix + id + "_" + sec, t, nil
}

// Token authenticates an API token. Errors: Unauthenticated (malformed, unknown, wrong,
// expired or revoked token, disabled user), Locked (the address is blocked after repeated
// bad tokens). Failures are audited and count against the address.
func (s *Service) Token(ctx context.Context, token string, c Client) (Principal, error) {
	const op = errs.Op("auth.Token")
	rec := audit.Record{SourceIP: c.IP, Protocol: c.Protocol, Action: audit.ActTokenUse, Detail: "bearer token"}
	if err := s.checkAddressLocked(ctx, "", c, rec); err != nil {
		return Principal{}, errs.E(op, err)
	}
	refuse := func(detail string, err error) (Principal, error) {
		rec.Detail = "bearer token: " + detail
		_ = s.fail(ctx, "", c, rec, defender.BadToken)
		return Principal{}, errs.E(op, errs.Unauthenticated, err)
	}
	reject := func(detail string) (Principal, error) {
		return refuse(detail, errors.New("invalid, expired or revoked API token: create a new one with POST /api/v1/tokens"))
	}
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(id) != 16 || len(secret) != 52 {
		return reject("malformed")
	}
	t, err := s.db.Q().TokenByID(ctx, id)
	if errs.Is(errs.NotFound, err) {
		return reject("unknown token id")
	}
	if err != nil {
		return Principal{}, errs.E(op, err)
	}
	rec.Actor = t.UserName
	sum := sha256.Sum256([]byte(secret))
	now := s.now()
	switch {
	case subtle.ConstantTimeCompare(sum[:], t.SecretHash) != 1:
		return reject("wrong secret for token " + id)
	case t.Revoked:
		return reject("revoked token " + id)
	case !now.Before(t.Expires):
		return reject("expired token " + id)
	}
	u, err := s.db.Q().UserByID(ctx, t.UserID)
	if err != nil {
		return Principal{}, errs.E(op, err)
	}
	if u.Disabled {
		return reject("account disabled")
	}
	if err := s.refuseSuspended(ctx, u, rec); err != nil {
		return Principal{}, errs.E(op, err)
	}
	// Like a disabled account's token: counted against the address.
	if why, err := access(u.AllowedIPs, u.Protocols, ProtoAPI, c); err != nil {
		return refuse(why+" (token "+t.ID+")", err)
	}
	if now.Sub(t.LastUsed) > time.Minute {
		_ = s.db.Q().TouchToken(ctx, t.ID, now) // best effort: a failed touch must not fail the request
	}
	return Principal{UserID: u.ID, Name: u.Name, Admin: u.Admin, Protocol: c.Protocol, SourceIP: c.IP, TokenID: t.ID}, nil
}
