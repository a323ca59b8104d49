package db

import (
	"context"
	"database/sql"
	"time"
)

// Token is an API token row. The secret itself is never stored, only its hash.
type Token struct {
	ID         string
	UserID     int64
	UserName   string
	SecretHash []byte
	Name       string
	Created    time.Time
	Expires    time.Time
	LastUsed   time.Time
	Revoked    bool
}

const (
	qInsertToken  = `INSERT INTO tokens (id, user_id, secret_hash, name, created, expires, last_used, revoked) VALUES ($1, $2, $3, $4, $5, $6, 0, 0)`
	tokenColumns  = `t.id, t.user_id, u.name, t.secret_hash, t.name, t.created, t.expires, t.last_used, t.revoked`
	qTokenByID    = `SELECT ` + tokenColumns + ` FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1`
	qUserTokens   = `SELECT ` + tokenColumns + ` FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.user_id = $1 ORDER BY t.created`
	qTouchToken   = `UPDATE tokens SET last_used = $2 WHERE id = $1`
	qRevokeToken  = `UPDATE tokens SET revoked = 1 WHERE id = $1`
	qAddFailure   = `INSERT INTO login_failures (scope, subject, at) VALUES ($1, $2, $3)`
	qCountFailure = `SELECT COUNT(*) FROM login_failures WHERE scope = $1 AND subject = $2 AND at >= $3`
	qClearFailure = `DELETE FROM login_failures WHERE scope = $1 AND subject = $2`
	qPruneFailure = `DELETE FROM login_failures WHERE at < $1`
	qSetLockout   = `INSERT INTO lockouts (scope, subject, until) VALUES ($1, $2, $3) ON CONFLICT (scope, subject) DO UPDATE SET until = excluded.until`
	qLockoutUntil = `SELECT until FROM lockouts WHERE scope = $1 AND subject = $2`
	qDelLockout   = `DELETE FROM lockouts WHERE scope = $1 AND subject = $2`
	qListLockouts = `SELECT scope, subject, until FROM lockouts WHERE until > $1 ORDER BY until DESC LIMIT $2`
	qGetSetting   = `SELECT value FROM settings WHERE name = $1`
	qPutSetting   = `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`
	qKEKCheck     = `SELECT check_value FROM kek_checks WHERE key_id = $1`
	qPutKEKCheck  = `INSERT INTO kek_checks (key_id, check_value, created) VALUES ($1, $2, $3)`
	qKEKCheckIDs  = `SELECT key_id FROM kek_checks ORDER BY created`
)

// InsertToken stores a new token. Errors: Exist (id collision).
func (q Q) InsertToken(ctx context.Context, t Token) error {
	_, err := q.q.ExecContext(ctx, qInsertToken, t.ID, t.UserID, t.SecretHash, t.Name, micro(t.Created), micro(t.Expires))
	return q.d.classify(err)
}

func scanToken(s scanner) (Token, error) {
	var t Token
	var created, expires, used, revoked int64
	err := s.Scan(&t.ID, &t.UserID, &t.UserName, &t.SecretHash, &t.Name, &created, &expires, &used, &revoked)
	t.Created, t.Expires, t.LastUsed, t.Revoked = fromMicro(created), fromMicro(expires), fromMicro(used), revoked != 0
	return t, err
}

// TokenByID returns a token. Errors: NotFound.
func (q Q) TokenByID(ctx context.Context, id string) (Token, error) {
	t, err := scanToken(q.q.QueryRowContext(ctx, qTokenByID, id))
	return t, q.d.classify(err)
}

// UserTokens lists a user's tokens, oldest first.
func (q Q) UserTokens(ctx context.Context, userID int64) ([]Token, error) {
	rows, err := q.q.QueryContext(ctx, qUserTokens, userID)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, t)
	}
	return out, q.d.classify(rows.Err())
}

// TouchToken records a token's use.
func (q Q) TouchToken(ctx context.Context, id string, at time.Time) error {
	_, err := q.q.ExecContext(ctx, qTouchToken, id, micro(at))
	return q.d.classify(err)
}

// RevokeToken marks a token revoked. Errors: NotFound.
func (q Q) RevokeToken(ctx context.Context, id string) error { return q.execOne(ctx, qRevokeToken, id) }

// AddLoginFailure records one failed login for scope ("user" or "ip") and subject.
func (q Q) AddLoginFailure(ctx context.Context, scope, subject string, at time.Time) error {
	_, err := q.q.ExecContext(ctx, qAddFailure, scope, subject, micro(at))
	return q.d.classify(err)
}

// CountLoginFailures counts failures for scope and subject since t.
func (q Q) CountLoginFailures(ctx context.Context, scope, subject string, since time.Time) (int64, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, qCountFailure, scope, subject, micro(since)).Scan(&n)
	return n, q.d.classify(err)
}

// ClearLoginFailures forgets failures for scope and subject (after a success).
func (q Q) ClearLoginFailures(ctx context.Context, scope, subject string) error {
	_, err := q.q.ExecContext(ctx, qClearFailure, scope, subject)
	return q.d.classify(err)
}

// PruneLoginFailures deletes failures older than t.
func (q Q) PruneLoginFailures(ctx context.Context, before time.Time) error {
	_, err := q.q.ExecContext(ctx, qPruneFailure, micro(before))
	return q.d.classify(err)
}

// SetLockout locks scope/subject until t.
func (q Q) SetLockout(ctx context.Context, scope, subject string, until time.Time) error {
	_, err := q.q.ExecContext(ctx, qSetLockout, scope, subject, micro(until))
	return q.d.classify(err)
}

// LockoutUntil returns when a lockout ends (zero if there is none).
func (q Q) LockoutUntil(ctx context.Context, scope, subject string) (time.Time, error) {
	var until int64
	err := q.q.QueryRowContext(ctx, qLockoutUntil, scope, subject).Scan(&until)
	if err == sql.ErrNoRows {
		return time.Time{}, nil
	}
	return fromMicro(until), q.d.classify(err)
}

// DeleteLockout lifts a lockout. Errors: NotFound.
func (q Q) DeleteLockout(ctx context.Context, scope, subject string) error {
	return q.execOne(ctx, qDelLockout, scope, subject)
}

// Lockout is an active lockout.
type Lockout struct {
	Scope, Subject string
	Until          time.Time
}

// ActiveLockouts lists up to limit lockouts that end after now.
func (q Q) ActiveLockouts(ctx context.Context, now time.Time, limit int) ([]Lockout, error) {
	rows, err := q.q.QueryContext(ctx, qListLockouts, micro(now), limit)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []Lockout
	for rows.Next() {
		var l Lockout
		var until int64
		if err := rows.Scan(&l.Scope, &l.Subject, &until); err != nil {
			return nil, q.d.classify(err)
		}
		l.Until = fromMicro(until)
		out = append(out, l)
	}
	return out, q.d.classify(rows.Err())
}

// Setting returns a named setting. Errors: NotFound.
func (q Q) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := q.q.QueryRowContext(ctx, qGetSetting, name).Scan(&v)
	return v, q.d.classify(err)
}

// PutSetting stores a named setting.
func (q Q) PutSetting(ctx context.Context, name, value string) error {
	_, err := q.q.ExecContext(ctx, qPutSetting, name, value)
	return q.d.classify(err)
}

// KEKCheck returns the stored check value of a key-encryption key. Errors: NotFound.
func (q Q) KEKCheck(ctx context.Context, keyID string) ([]byte, error) {
	var v []byte
	err := q.q.QueryRowContext(ctx, qKEKCheck, keyID).Scan(&v)
	return v, q.d.classify(err)
}

// PutKEKCheck stores the check value of a key-encryption key. Errors: Exist.
func (q Q) PutKEKCheck(ctx context.Context, keyID string, value []byte) error {
	_, err := q.q.ExecContext(ctx, qPutKEKCheck, keyID, value, micro(time.Now()))
	return q.d.classify(err)
}

// KEKCheckIDs lists the key ids the database knows, oldest first.
func (q Q) KEKCheckIDs(ctx context.Context) ([]string, error) { return q.strings(ctx, qKEKCheckIDs) }
