package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/errs"
)

// TOTPEnrolment is a TOTP key being set up, to show to the user once.
type TOTPEnrolment struct {
	Key     string // base32, for typing into an authenticator app
	URI     string // otpauth:// URI, for the QR code (issuer "Coffer", the user's name)
	Account string // the user name the app will show
}

var errWrongCode = errs.E(errs.Unauthenticated, "wrong or expired code: enter the current code from the authenticator app, or a recovery code")

// totpBinding is the associated data that ties a sealed TOTP key to its user.
func totpBinding(userID int64) []byte { return []byte("user " + strconv.FormatInt(userID, 10)) }

// SecondFactor completes a sign-in in StateSecondFactor with code: the current TOTP code
// (each accepted once) or an unused recovery code (used up). It returns the session's new
// secret; the old one stops working. Errors: Unauthenticated (no such session, wrong,
// replayed or malformed code), Locked, Conflict (the session is not awaiting a second
// factor), Integrity (the stored key does not open).
func (w *Web) SecondFactor(ctx context.Context, secret, code string, c Client) (string, error) {
	const op = errs.Op("auth.SecondFactor")
	r, err := w.live(ctx, secret, c)
	if err != nil {
		return "", errs.E(op, err)
	}
	if SessionState(r.State) != StateSecondFactor {
		return "", errs.E(op, errs.Conflict, "this session is not waiting for a second factor")
	}
	rec := webRecord(c, r.UserName, audit.ActLogin)
	rec.Target, rec.Detail = "session "+r.ID, "second factor"
	if err := w.auth.checkLocked(ctx, r.UserName, c, rec); err != nil {
		return "", errs.E(op, err)
	}
	now := w.auth.now()
	next := r
	next.State, next.LastSeen = string(StateComplete), now
	next.Expires, next.IdleTimeout = r.Created.Add(w.policy.Absolute), w.policy.Idle
	newSecret, newHash := newSessionSecret()

	// use consumes the code inside the transaction that completes the session, so that a
	// code is spent only by a sign-in that happens. errWrongCode means it did not match.
	var use func(q db.Q) error
	if isTOTPCode(code) {
		key, err := w.auth.db.Q().TOTPKey(ctx, r.UserID)
		if errs.Is(errs.NotFound, err) || (err == nil && key.Confirmed.IsZero()) {
			return "", errs.E(op, errNoSession) // 2FA was reset meanwhile, which ends sessions
		}
		if err != nil {
			return "", errs.E(op, err)
		}
		k, err := w.keys.OpenSecret(key.KeyID, purposeTOTP, totpBinding(r.UserID), key.Sealed)
		if err != nil {
			rec.Result, rec.Detail = audit.Failed, "totp: the stored key does not open: "+errs.Detail(err)
			if aerr := w.auth.audit.Append(context.WithoutCancel(ctx), rec); aerr != nil {
				return "", errs.E(op, aerr)
			}
			return "", errs.E(op, err)
		}
		if step, ok := matchTOTP(k, code, now, key.LastStep); ok {
			next.Method = "password+totp"
			use = func(q db.Q) error {
				err := q.UseTOTPStep(ctx, r.UserID, step)
				if errs.Is(errs.NotFound, err) {
					rec.Detail = "totp: code already used" // by a concurrent request
					return errWrongCode
				}
				return err
			}
		} else if _, used := matchTOTP(k, code, now, -1); used {
			rec.Detail = "totp: code already used"
		} else {
			rec.Detail = "totp: wrong code"
		}
	} else if normal, ok := normalRecoveryCode(code); ok {
		next.Method = "password+recovery code"
		rec.Detail = "recovery code: wrong or already used"
		use = func(q db.Q) error {
			if err := q.UseRecoveryCode(ctx, r.UserID, recoveryHash(normal), now); errs.Is(errs.NotFound, err) {
				return errWrongCode
			} else if err != nil {
				return err
			}
			tf, err := q.TwoFactor(ctx, r.UserID)
			if err != nil {
				return err
			}
			rec.Detail = fmt.Sprintf("password+recovery code (%d left)", tf.RecoveryLeft)
			return nil
		}
	} else {
		rec.Detail = "second factor: not a 6-digit code or a recovery code"
	}
	if use == nil {
		return "", errs.E(op, w.failCode(ctx, r.UserName, c, rec))
	}
	err = w.auth.db.Tx(ctx, func(q db.Q) error {
		if err := use(q); err != nil {
			return err
		}
		if err := q.AdvanceWebSession(ctx, string(StateSecondFactor), next, newHash); errs.Is(errs.NotFound, err) {
			return errNoSession // completed or ended by a concurrent request
		} else if err != nil {
			return err
		}
		if err := q.ClearLoginFailures(ctx, scopeUser, r.UserName); err != nil {
			return err
		}
		done := rec
		done.Result = audit.OK
		if next.Method == "password+totp" {
			done.Detail = next.Method
		}
		return w.auth.audit.AppendTx(ctx, q, done)
	})
	if errors.Is(err, errWrongCode) {
		return "", errs.E(op, w.failCode(ctx, r.UserName, c, rec))
	}
	if err != nil {
		return "", errs.E(op, err)
	}
	return newSecret, nil
}

// failCode records a wrong second factor like a wrong password (audited, toward the
// account's and the address's lockout) and returns the error for the client.
func (w *Web) failCode(ctx context.Context, name string, c Client, rec audit.Record) error {
	if err := w.auth.fail(context.WithoutCancel(ctx), name, c, rec, defender.LoginFailed); !errors.Is(err, errBadCredentials) {
		return err
	}
	return errWrongCode
}

// BeginTOTP creates a new TOTP key for the session's user, pending until ConfirmTOTP, and
// returns it to show as a QR code and as text. A pending key from an earlier Begin is
// replaced. Errors: Unauthenticated, Permission (a complete session whose password was not
// entered recently: ReAuthenticate first), Conflict (TOTP is already set up, or the
// session awaits its second factor).
func (w *Web) BeginTOTP(ctx context.Context, secret string, c Client) (TOTPEnrolment, error) {
	const op = errs.Op("auth.BeginTOTP")
	r, err := w.enrolling(ctx, secret, c, true)
	if err != nil {
		return TOTPEnrolment{}, errs.E(op, err)
	}
	key := make([]byte, totpKeySize)
	rand.Read(key)
	keyID, sealed, err := w.keys.SealSecret(purposeTOTP, totpBinding(r.UserID), key)
	if err != nil {
		return TOTPEnrolment{}, errs.E(op, err)
	}
	rec := webRecord(c, r.UserName, audit.Act2FAEnrol)
	rec.Path, rec.Target, rec.Detail = r.UserName, "session "+r.ID, "totp key created; waiting for the first code"
	err = w.auth.db.Tx(ctx, func(q db.Q) error {
		err := q.PutPendingTOTPKey(ctx, db.TOTPKey{UserID: r.UserID, KeyID: keyID, Sealed: sealed, Created: w.auth.now()})
		if errs.Is(errs.NotFound, err) {
			return errs.E(errs.Conflict, "two-factor sign-in is already set up (an administrator can reset it)")
		}
		if err != nil {
			return err
		}
		return w.auth.audit.AppendTx(ctx, q, rec)
	})
	if err != nil {
		return TOTPEnrolment{}, errs.E(op, err)
	}
	return TOTPEnrolment{Key: totpB32.EncodeToString(key), URI: otpauthURI(r.UserName, key), Account: r.UserName}, nil
}

// enrolling returns the live session of secret if it may set up TOTP: complete (with a
// recent password entry when fresh is set) or StateMustEnrol.
func (w *Web) enrolling(ctx context.Context, secret string, c Client, fresh bool) (db.WebSession, error) {
	r, err := w.live(ctx, secret, c)
	if err != nil {
		return r, err
	}
	switch SessionState(r.State) {
	case StateMustEnrol:
		return r, nil
	case StateComplete:
		if fresh && !w.RecentlyAuthenticated(webSession(r, c)) {
			return r, errs.E(errs.Permission, "enter your password again before setting up two-factor sign-in")
		}
		return r, nil
	}
	return r, errs.E(errs.Conflict, "finish signing in with the second factor first")
}

// ConfirmTOTP activates the pending key with a code from the app, replaces the user's
// recovery codes with 10 new ones, returned to show once, and ends the user's other
// sessions. This session continues, complete, under the returned new secret. A wrong
// code is refused without counting toward the lockout: the user is signed in and is
// checking their own app. Errors: Unauthenticated, Conflict (nothing pending: BeginTOTP
// first), Invalid (wrong or malformed code), Integrity.
func (w *Web) ConfirmTOTP(ctx context.Context, secret, code string, c Client) (string, []string, error) {
	const op = errs.Op("auth.ConfirmTOTP")
	r, err := w.enrolling(ctx, secret, c, false)
	if err != nil {
		return "", nil, errs.E(op, err)
	}
	key, err := w.auth.db.Q().TOTPKey(ctx, r.UserID)
	if errs.Is(errs.NotFound, err) || (err == nil && !key.Confirmed.IsZero()) {
		return "", nil, errs.E(op, errs.Conflict, "no two-factor set-up is in progress: begin again")
	}
	if err != nil {
		return "", nil, errs.E(op, err)
	}
	k, err := w.keys.OpenSecret(key.KeyID, purposeTOTP, totpBinding(r.UserID), key.Sealed)
	if err != nil {
		return "", nil, errs.E(op, err)
	}
	rec := webRecord(c, r.UserName, audit.Act2FAEnrol)
	rec.Path, rec.Target = r.UserName, "session "+r.ID
	now := w.auth.now()
	step, ok := matchTOTP(k, code, now, 0)
	if !ok {
		rec.Result, rec.Detail = audit.Denied, "totp: wrong code at confirmation"
		if err := w.auth.audit.Append(context.WithoutCancel(ctx), rec); err != nil {
			return "", nil, errs.E(op, err)
		}
		return "", nil, errs.E(op, errs.Invalid, "the code does not match: type the current 6-digit code the app shows (check that the phone's clock is right)")
	}
	codes, hashes := newRecoveryCodes(recoveryCount)
	next := r
	next.State, next.LastSeen = string(StateComplete), now
	if SessionState(r.State) == StateMustEnrol {
		next.Method = "password+totp"
		next.Expires, next.IdleTimeout = r.Created.Add(w.policy.Absolute), w.policy.Idle
	}
	newSecret, newHash := newSessionSecret()
	err = w.auth.db.Tx(ctx, func(q db.Q) error {
		if err := q.ConfirmTOTPKey(ctx, r.UserID, key.Created, now, step); errs.Is(errs.NotFound, err) {
			return errs.E(errs.Conflict, "the two-factor set-up changed meanwhile: begin again")
		} else if err != nil {
			return err
		}
		if err := q.ReplaceRecoveryCodes(ctx, r.UserID, hashes, now); err != nil {
			return err
		}
		if err := q.AdvanceWebSession(ctx, r.State, next, newHash); errs.Is(errs.NotFound, err) {
			return errNoSession
		} else if err != nil {
			return err
		}
		ended, err := q.DeleteOtherWebSessions(ctx, r.UserID, r.ID)
		if err != nil {
			return err
		}
		rec.Detail = fmt.Sprintf("totp confirmed; %d recovery codes issued; %d other sessions ended", len(codes), ended)
		if err := w.auth.audit.AppendTx(ctx, q, rec); err != nil {
			return err
		}
		if SessionState(r.State) != StateMustEnrol {
			return nil
		}
		login := webRecord(c, r.UserName, audit.ActLogin)
		login.Target, login.Detail = "session "+r.ID, "password+totp (at enrolment)"
		return w.auth.audit.AppendTx(ctx, q, login)
	})
	if err != nil {
		return "", nil, errs.E(op, err)
	}
	return newSecret, codes, nil
}
