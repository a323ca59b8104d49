package db

import (
	"context"
	"time"

	"github.com/coffer-mft/coffer/internal/errs"
)

// TOTPKey is a user's TOTP key, sealed (package crypt, SealSecret) under KEK KeyID.
type TOTPKey struct {
	UserID    int64
	KeyID     string
	Sealed    []byte
	Created   time.Time
	Confirmed time.Time // zero while enrolment waits for its first code
	LastStep  int64     // the newest time step whose code was accepted
}

// TwoFactor is a user's two-factor state, for administrators and the user.
type TwoFactor struct {
	Required     bool      // an administrator requires it of this user (the setting for all is apart)
	Enrolled     time.Time // when TOTP was confirmed; zero when it is not active
	Pending      bool      // an enrolment was begun but not confirmed
	RecoveryLeft int64     // unused recovery codes
}

// settingRequire2FA names the setting that requires two-factor sign-in of every user.
const settingRequire2FA = "require_2fa"

const (
	qTOTPKey = `SELECT user_id, key_id, sealed, created, confirmed, last_step FROM totp_keys WHERE user_id = $1`
	// A pending key replaces a pending one, never an active one.
	qPutPendingTOTPKey = `INSERT INTO totp_keys (user_id, key_id, sealed, created, confirmed, last_step) VALUES ($1, $2, $3, $4, 0, 0) ON CONFLICT (user_id) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed, created = excluded.created, confirmed = 0, last_step = 0 WHERE totp_keys.confirmed = 0`
	qConfirmTOTPKey    = `UPDATE totp_keys SET confirmed = $3, last_step = $4 WHERE user_id = $1 AND created = $2 AND confirmed = 0`
	qUseTOTPStep       = `UPDATE totp_keys SET last_step = $2 WHERE user_id = $1 AND confirmed <> 0 AND last_step < $2`
	qDeleteTOTPKey     = `DELETE FROM totp_keys WHERE user_id = $1`
	qInsertRecovery    = `INSERT INTO recovery_codes (user_id, code_hash, created, used) VALUES ($1, $2, $3, 0)`
	qDeleteRecovery    = `DELETE FROM recovery_codes WHERE user_id = $1`
	qUseRecovery       = `UPDATE recovery_codes SET used = $3 WHERE user_id = $1 AND code_hash = $2 AND used = 0`
	qTwoFactor         = `SELECT u.require_2fa, COALESCE(t.confirmed, -1), (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used = 0) FROM users u LEFT JOIN totp_keys t ON t.user_id = u.id WHERE u.id = $1`
	qSetRequire2FA     = `UPDATE users SET require_2fa = $2, updated = $3 WHERE id = $1`
)

// TOTPKey returns a user's TOTP key, pending or confirmed. Errors: NotFound.
func (q Q) TOTPKey(ctx context.Context, userID int64) (TOTPKey, error) {
	var k TOTPKey
	var created, confirmed int64
	err := q.q.QueryRowContext(ctx, qTOTPKey, userID).Scan(&k.UserID, &k.KeyID, &k.Sealed, &created, &confirmed, &k.LastStep)
	k.Created, k.Confirmed = fromMicro(created), fromMicro(confirmed)
	return k, q.d.classify(err)
}

// PutPendingTOTPKey stores a key awaiting confirmation, replacing a pending one.
// Errors: NotFound when the user has a confirmed key, which only a reset removes.
func (q Q) PutPendingTOTPKey(ctx context.Context, k TOTPKey) error {
	return q.execOne(ctx, qPutPendingTOTPKey, k.UserID, k.KeyID, k.Sealed, micro(k.Created))
}

// ConfirmTOTPKey activates the pending key created at created, recording step as used.
// Errors: NotFound when that key is no longer the pending one.
func (q Q) ConfirmTOTPKey(ctx context.Context, userID int64, created, at time.Time, step int64) error {
	return q.execOne(ctx, qConfirmTOTPKey, userID, micro(created), micro(at), step)
}

// UseTOTPStep records that the code of step was used, if it is newer than any used before.
// Errors: NotFound when it is not (a replayed code) or the key is not active.
func (q Q) UseTOTPStep(ctx context.Context, userID, step int64) error {
	return q.execOne(ctx, qUseTOTPStep, userID, step)
}

// DeleteTOTPKey removes a user's TOTP key and reports whether there was one.
func (q Q) DeleteTOTPKey(ctx context.Context, userID int64) (bool, error) {
	n, err := q.execCount(ctx, qDeleteTOTPKey, userID)
	return n > 0, err
}

// ReplaceRecoveryCodes replaces a user's recovery codes by the given hashes.
func (q Q) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes [][]byte, at time.Time) error {
	if _, err := q.DeleteRecoveryCodes(ctx, userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := q.q.ExecContext(ctx, qInsertRecovery, userID, h, micro(at)); err != nil {
			return q.d.classify(err)
		}
	}
	return nil
}

// DeleteRecoveryCodes removes a user's recovery codes and reports how many there were.
func (q Q) DeleteRecoveryCodes(ctx context.Context, userID int64) (int64, error) {
	return q.execCount(ctx, qDeleteRecovery, userID)
}

// UseRecoveryCode marks the unused code with hash used at at. Errors: NotFound when there
// is no such unused code.
func (q Q) UseRecoveryCode(ctx context.Context, userID int64, hash []byte, at time.Time) error {
	return q.execOne(ctx, qUseRecovery, userID, hash, micro(at))
}

// TwoFactor returns a user's two-factor state. Errors: NotFound (no such user).
func (q Q) TwoFactor(ctx context.Context, userID int64) (TwoFactor, error) {
	var tf TwoFactor
	var required, confirmed int64
	err := q.q.QueryRowContext(ctx, qTwoFactor, userID).Scan(&required, &confirmed, &tf.RecoveryLeft)
	tf.Required, tf.Pending = required != 0, confirmed == 0
	if confirmed > 0 {
		tf.Enrolled = fromMicro(confirmed)
	}
	return tf, q.d.classify(err)
}

// SetRequire2FA sets whether a user must sign in with a second factor. Errors: NotFound.
func (q Q) SetRequire2FA(ctx context.Context, userID int64, on bool) error {
	return q.execOne(ctx, qSetRequire2FA, userID, flag(on), micro(time.Now()))
}

// Require2FAForAll reports whether every user must sign in with a second factor.
func (q Q) Require2FAForAll(ctx context.Context) (bool, error) {
	v, err := q.Setting(ctx, settingRequire2FA)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			return false, nil
		}
		return false, err
	}
	return v == "on", nil
}

// SetRequire2FAForAll sets whether every user must sign in with a second factor.
func (q Q) SetRequire2FAForAll(ctx context.Context, on bool) error {
	v := "off"
	if on {
		v = "on"
	}
	return q.PutSetting(ctx, settingRequire2FA, v)
}
