package accounts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// MaxKeyLine bounds an authorized_keys line; an RSA-16384 key is well under it.
const MaxKeyLine = 16 << 10

// AddKey registers an SSH public key, given as one authorized_keys line ("ssh-ed25519
// AAAA... comment"), for user: one's own, or anyone's for an administrator. Options in the
// line (from="...", command="...") are refused rather than silently ignored. Only modern
// key types are accepted. Errors: Permission, Invalid, NotFound, Exist (the key is
// registered already, to this or another user).
func (s *Service) AddKey(ctx context.Context, actor auth.Principal, user, line string) (db.UserKey, error) {
	const op = errs.Op("accounts.AddKey")
	if actor.Name != user {
		if err := s.admin(ctx, actor, audit.ActKeyAdd, user); err != nil {
			return db.UserKey{}, errs.E(op, err)
		}
	}
	if len(line) > MaxKeyLine {
		return db.UserKey{}, errs.E(op, errs.Invalid, "the key is longer than 16 KiB: give one public key line")
	}
	pub, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(line)))
	if err != nil {
		return db.UserKey{}, errs.E(op, errs.Invalid, "not an OpenSSH public key line (expected e.g. \"ssh-ed25519 AAAA... name@host\", the content of a .pub file)")
	}
	if len(options) > 0 {
		return db.UserKey{}, errs.E(op, errs.Invalid, "key options such as from= or command= are not supported: give the key without them")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return db.UserKey{}, errs.E(op, errs.Invalid, "give exactly one key per call")
	}
	if err := checkKeyType(pub); err != nil {
		return db.UserKey{}, errs.E(op, err)
	}
	fp := ssh.FingerprintSHA256(pub)
	rec := record(actor, audit.ActKeyAdd, user)
	rec.Detail = pub.Type() + " " + fp
	var k db.UserKey
	err = s.change(ctx, &rec, func(q db.Q) error {
		u, err := userByName(ctx, q, user)
		if err != nil {
			return err
		}
		k, err = q.InsertUserKey(ctx, db.UserKey{UserID: u.ID, UserName: u.Name, Fingerprint: fp, KeyType: pub.Type(),
			PublicKey: pub.Marshal(), Comment: clipComment(comment), Created: time.Now()})
		if errs.Is(errs.Exist, err) {
			return errs.E(errs.Exist, "this key is registered already (each key may sign in one user only)")
		}
		return err
	})
	if err != nil {
		return db.UserKey{}, errs.E(op, err)
	}
	return k, nil
}

func checkKeyType(pub ssh.PublicKey) error {
	switch pub.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
		return nil
	case ssh.KeyAlgoRSA:
		if ck, ok := pub.(ssh.CryptoPublicKey); ok {
			if rk, ok := ck.CryptoPublicKey().(interface{ Size() int }); ok && rk.Size()*8 < 2048 {
				return errs.E(errs.Invalid, "RSA keys must have at least 2048 bits: make a new key (ssh-keygen -t ed25519)")
			}
		}
		return nil
	}
	return errs.E(errs.Invalid, fmt.Sprintf("key type %s is not accepted: use ed25519, ECDSA or RSA of 2048 bits or more", pub.Type()))
}

func clipComment(c string) string {
	if len(c) > 200 {
		c = c[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, c)
}

// ListKeys lists a user's keys: one's own, or anyone's for an administrator.
func (s *Service) ListKeys(ctx context.Context, actor auth.Principal, user string) ([]db.UserKey, error) {
	if actor.Name != user {
		if err := s.admin(ctx, actor, audit.ActKeyAdd, user); err != nil {
			return nil, err
		}
	}
	u, err := userByName(ctx, s.db.Q(), user)
	if err != nil {
		return nil, err
	}
	return s.db.Q().UserKeys(ctx, u.ID)
}

// RemoveKey removes one of user's keys by fingerprint ("SHA256:...").
func (s *Service) RemoveKey(ctx context.Context, actor auth.Principal, user, fingerprint string) error {
	const op = errs.Op("accounts.RemoveKey")
	if actor.Name != user {
		if err := s.admin(ctx, actor, audit.ActKeyRemove, user); err != nil {
			return errs.E(op, err)
		}
	}
	rec := record(actor, audit.ActKeyRemove, user)
	rec.Detail = fingerprint
	err := s.change(ctx, &rec, func(q db.Q) error {
		u, err := userByName(ctx, q, user)
		if err != nil {
			return err
		}
		if err := q.DeleteUserKey(ctx, u.ID, fingerprint); errs.Is(errs.NotFound, err) {
			return errs.E(errs.NotFound, fmt.Sprintf("user %q has no key %s", user, clip(fingerprint)))
		} else {
			return err
		}
	})
	if err != nil {
		return errs.E(op, err)
	}
	return nil
}
