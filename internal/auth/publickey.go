package auth

import (
	"bytes"
	"context"
	"errors"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/errs"
)

// PublicKey signs name in with an SSH public key whose possession the SSH layer has
// verified (or is about to: it asks first whether a key would be accepted). The key is
// looked up only in the database, by its fingerprint, and must belong to name byte for
// byte. A key that does not match is not counted as a failed sign-in, since SSH clients
// offer every key they hold; the front-end reports a connection that never
// authenticates with Failed.
//
// Only the address's lockout refuses a key, not the account's: the account lockout stops
// the guessing of its password, and a key cannot be guessed. Otherwise anyone who knows
// an account's name could lock its owner's key out (a partner's nightly job) by sending
// it five wrong passwords. API tokens are treated alike (Token). Errors: Unauthenticated,
// Locked (the address).
func (s *Service) PublicKey(ctx context.Context, name string, key ssh.PublicKey, c Client) (Principal, error) {
	const op = errs.Op("auth.PublicKey")
	rec := audit.Record{Actor: name, SourceIP: c.IP, Protocol: c.Protocol, Action: audit.ActLogin, Detail: "publickey"}
	if err := s.checkAddressLocked(ctx, name, c, rec); err != nil {
		return Principal{}, errs.E(op, err)
	}
	q := s.db.Q()
	k, err := q.KeyByFingerprint(ctx, ssh.FingerprintSHA256(key))
	if err != nil && !errs.Is(errs.NotFound, err) {
		return Principal{}, errs.E(op, err)
	}
	if err != nil || k.UserName != name || !bytes.Equal(k.PublicKey, key.Marshal()) {
		return Principal{}, errs.E(op, errs.Unauthenticated, "this key is not registered for this user")
	}
	u, err := q.UserByID(ctx, k.UserID)
	if err != nil {
		return Principal{}, errs.E(op, err)
	}
	if u.Disabled {
		rec.Result, rec.Detail = audit.Denied, rec.Detail+": account disabled"
		if err := s.audit.Append(context.WithoutCancel(ctx), rec); err != nil {
			return Principal{}, errs.E(op, err)
		}
		return Principal{}, errs.E(op, errs.Unauthenticated, ErrDisabled)
	}
	if err := s.refuseSuspended(ctx, u, rec); err != nil {
		return Principal{}, errs.E(op, err)
	}
	if err := s.refuseAccess(ctx, u.AllowedIPs, u.Protocols, ProtoSFTP, c, rec); err != nil {
		return Principal{}, errs.E(op, err)
	}
	return Principal{UserID: u.ID, Name: u.Name, Admin: u.Admin, Protocol: c.Protocol, SourceIP: c.IP}, nil
}

// ErrDisabled is why a disabled account's key is refused.
var ErrDisabled = errors.New("the account is disabled")

// KeyRefused reports whether err is PublicKey refusing a key registered for the user
// because of the account (disabled, suspended, outside its addresses or protocols). Such a
// refusal is audited with its reason already and is no guess at the account's
// credentials: the front-end should not count it as a failed sign-in of the account.
// The client may not have proven that it holds the key (SSH asks before it signs), so
// the front-end should still score the address.
func KeyRefused(err error) bool {
	return errors.Is(err, ErrDisabled) || errors.Is(err, ErrSuspended) || AccessRefusal(err) != ""
}

// Accepted records a successful sign-in that the caller completed itself, such as an
// SSH handshake after PublicKey. method is e.g. "publickey" or "password"; fingerprint
// names the key used, if any, whose last use it records.
func (s *Service) Accepted(ctx context.Context, p Principal, method, fingerprint string) error {
	detail := method
	if fingerprint != "" {
		detail += " " + fingerprint
		if k, err := s.db.Q().KeyByFingerprint(ctx, fingerprint); err == nil && k.UserID == p.UserID {
			_ = s.db.Q().TouchUserKey(ctx, k.ID, s.now()) // best effort, like token use
		}
	}
	return s.audit.Append(ctx, audit.Record{Actor: p.Name, SourceIP: p.SourceIP, Protocol: p.Protocol,
		Action: audit.ActLogin, Result: audit.OK, Detail: detail})
}

// Failed records a sign-in that failed for a reason the caller saw (e.g. an SSH
// connection that closed without authenticating), counting it towards lockout like a
// wrong password.
func (s *Service) Failed(ctx context.Context, name string, c Client, detail string) error {
	err := s.fail(ctx, name, c, audit.Record{Actor: name, SourceIP: c.IP, Protocol: c.Protocol, Action: audit.ActLogin, Detail: detail}, defender.LoginFailed)
	if errs.Is(errs.Unauthenticated, err) {
		return nil
	}
	return err
}
