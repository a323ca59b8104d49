package db

import (
	"context"
	"time"
)

// WebSession is a web sign-in session row joined with its user's current role and state.
// The cookie value is never stored, only its SHA-256 (passed apart from this struct, so
// that a listed session cannot carry it anywhere).
type WebSession struct {
	ID              string // public handle: lists, ending a session; not the secret
	UserID          int64
	UserName        string // joined from users
	Admin           bool   // joined from users: the role now, not at sign-in
	Disabled        bool   // joined from users
	AllowedIPs      string // joined from users (see User)
	Protocols       string // joined from users (see User)
	State           string // "totp", "enrol" or "ok" (see package auth)
	Method          string
	Created         time.Time
	LastSeen        time.Time
	Expires         time.Time // absolute expiry
	IdleTimeout     time.Duration
	AuthenticatedAt time.Time
	SourceIP        string
	UserAgent       string
}

const (
	// A suspended account's sessions are as dead as a disabled one's (docs/tripwires.md).
	webSessionColumns = `s.id, s.user_id, u.name, u.is_admin, CASE WHEN u.disabled <> 0 OR u.suspended <> 0 THEN 1 ELSE 0 END, s.state, s.method, s.created, s.last_seen, s.expires, s.idle_timeout, s.authenticated_at, s.source_ip, s.user_agent, u.allowed_ips, u.protocols`

	qInsertWebSession       = `INSERT INTO web_sessions (id, user_id, secret_hash, state, method, created, last_seen, expires, idle_timeout, authenticated_at, source_ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
	qWebSessionBySecret     = `SELECT ` + webSessionColumns + ` FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.secret_hash = $1`
	qWebSessionByID         = `SELECT ` + webSessionColumns + ` FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`
	qUserWebSessions        = `SELECT ` + webSessionColumns + ` FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.user_id = $1 ORDER BY s.created, s.id`
	qLiveWebSessions        = `SELECT ` + webSessionColumns + ` FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.expires > $1 AND s.last_seen + s.idle_timeout > $1 ORDER BY s.last_seen DESC, s.id LIMIT $2`
	qTouchWebSession        = `UPDATE web_sessions SET last_seen = $2 WHERE id = $1 AND last_seen < $2`
	qAdvanceWebSession      = `UPDATE web_sessions SET state = $3, secret_hash = $4, method = $5, expires = $6, idle_timeout = $7, last_seen = $8 WHERE id = $1 AND state = $2`
	qReauthWebSession       = `UPDATE web_sessions SET authenticated_at = $2, last_seen = $2 WHERE id = $1`
	qDeleteWebSession       = `DELETE FROM web_sessions WHERE id = $1`
	qDeleteUserWebSessions  = `DELETE FROM web_sessions WHERE user_id = $1`
	qDeleteOtherWebSessions = `DELETE FROM web_sessions WHERE user_id = $1 AND id <> $2`
	qPruneWebSessions       = `DELETE FROM web_sessions WHERE expires <= $1 OR last_seen + idle_timeout <= $1`
	// The sessions of users who have no active second factor, when it becomes required.
	qDeleteWebSessionsWithout2FA     = `DELETE FROM web_sessions WHERE user_id NOT IN (SELECT user_id FROM totp_keys WHERE confirmed <> 0)`
	qDeleteUserWebSessionsWithout2FA = `DELETE FROM web_sessions WHERE user_id = $1 AND user_id NOT IN (SELECT user_id FROM totp_keys WHERE confirmed <> 0)`
)

// InsertWebSession stores a new session whose cookie value hashes to secretHash.
// Errors: Exist (id or hash collision).
func (q Q) InsertWebSession(ctx context.Context, s WebSession, secretHash []byte) error {
	_, err := q.q.ExecContext(ctx, qInsertWebSession, s.ID, s.UserID, secretHash, s.State, s.Method,
		micro(s.Created), micro(s.LastSeen), micro(s.Expires), s.IdleTimeout.Microseconds(),
		micro(s.AuthenticatedAt), s.SourceIP, s.UserAgent)
	return q.d.classify(err)
}

func scanWebSession(s scanner) (WebSession, error) {
	var w WebSession
	var admin, disabled, created, seen, expires, idle, authAt int64
	err := s.Scan(&w.ID, &w.UserID, &w.UserName, &admin, &disabled, &w.State, &w.Method,
		&created, &seen, &expires, &idle, &authAt, &w.SourceIP, &w.UserAgent, &w.AllowedIPs, &w.Protocols)
	w.Admin, w.Disabled = admin != 0, disabled != 0
	w.Created, w.LastSeen, w.Expires, w.AuthenticatedAt = fromMicro(created), fromMicro(seen), fromMicro(expires), fromMicro(authAt)
	w.IdleTimeout = time.Duration(idle) * time.Microsecond
	return w, err
}

// WebSessionBySecret returns the session whose cookie value hashes to secretHash,
// expired or not. Errors: NotFound.
func (q Q) WebSessionBySecret(ctx context.Context, secretHash []byte) (WebSession, error) {
	w, err := scanWebSession(q.q.QueryRowContext(ctx, qWebSessionBySecret, secretHash))
	return w, q.d.classify(err)
}

// WebSessionByID returns a session by its public id. Errors: NotFound.
func (q Q) WebSessionByID(ctx context.Context, id string) (WebSession, error) {
	w, err := scanWebSession(q.q.QueryRowContext(ctx, qWebSessionByID, id))
	return w, q.d.classify(err)
}

// UserWebSessions lists a user's sessions, oldest first, expired ones included until
// they are pruned.
func (q Q) UserWebSessions(ctx context.Context, userID int64) ([]WebSession, error) {
	return q.webSessions(ctx, qUserWebSessions, userID)
}

// LiveWebSessions lists up to limit sessions of all users that have expired neither
// absolutely nor by idleness at now, most recently seen first.
func (q Q) LiveWebSessions(ctx context.Context, now time.Time, limit int) ([]WebSession, error) {
	return q.webSessions(ctx, qLiveWebSessions, micro(now), limit)
}

func (q Q) webSessions(ctx context.Context, query string, args ...any) ([]WebSession, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	out := []WebSession{}
	for rows.Next() {
		w, err := scanWebSession(rows)
		if err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, w)
	}
	return out, q.d.classify(rows.Err())
}

// TouchWebSession records activity at at (never moving last_seen back).
func (q Q) TouchWebSession(ctx context.Context, id string, at time.Time) error {
	_, err := q.q.ExecContext(ctx, qTouchWebSession, id, micro(at))
	return q.d.classify(err)
}

// AdvanceWebSession moves a session from state from to s.State, replacing its secret hash,
// method, expiry, idle timeout and last_seen with those given. Errors: NotFound when the
// session is gone or no longer in state from (another request advanced it first).
func (q Q) AdvanceWebSession(ctx context.Context, from string, s WebSession, secretHash []byte) error {
	return q.execOne(ctx, qAdvanceWebSession, s.ID, from, s.State, secretHash, s.Method,
		micro(s.Expires), s.IdleTimeout.Microseconds(), micro(s.LastSeen))
}

// ReauthWebSession records that the session's user entered their password again at at.
// Errors: NotFound.
func (q Q) ReauthWebSession(ctx context.Context, id string, at time.Time) error {
	return q.execOne(ctx, qReauthWebSession, id, micro(at))
}

// DeleteWebSession ends one session. Errors: NotFound.
func (q Q) DeleteWebSession(ctx context.Context, id string) error {
	return q.execOne(ctx, qDeleteWebSession, id)
}

// DeleteUserWebSessions ends every session of a user and reports how many there were.
func (q Q) DeleteUserWebSessions(ctx context.Context, userID int64) (int64, error) {
	return q.execCount(ctx, qDeleteUserWebSessions, userID)
}

// DeleteOtherWebSessions ends every session of a user but keep (a session id).
func (q Q) DeleteOtherWebSessions(ctx context.Context, userID int64, keep string) (int64, error) {
	return q.execCount(ctx, qDeleteOtherWebSessions, userID, keep)
}

// DeleteWebSessionsWithout2FA ends the sessions of users without an active second factor:
// of one user, or of all users when userID is 0.
func (q Q) DeleteWebSessionsWithout2FA(ctx context.Context, userID int64) (int64, error) {
	if userID == 0 {
		return q.execCount(ctx, qDeleteWebSessionsWithout2FA)
	}
	return q.execCount(ctx, qDeleteUserWebSessionsWithout2FA, userID)
}

// PruneWebSessions deletes the sessions that are expired at now, absolutely or for being
// idle, and reports how many.
func (q Q) PruneWebSessions(ctx context.Context, now time.Time) (int64, error) {
	return q.execCount(ctx, qPruneWebSessions, micro(now))
}

func (q Q) execCount(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, q.d.classify(err)
	}
	n, err := res.RowsAffected()
	return n, q.d.classify(err)
}
