package db

import (
	"context"
	"time"
)

// UserKey is an SSH public key that signs a user in over SFTP.
type UserKey struct {
	ID          int64
	UserID      int64
	UserName    string
	Fingerprint string // "SHA256:..." as OpenSSH prints it
	KeyType     string
	PublicKey   []byte // SSH wire format
	Comment     string
	Created     time.Time
	LastUsed    time.Time
}

const (
	keyColumns        = `k.id, k.user_id, u.name, k.fingerprint, k.key_type, k.public_key, k.comment, k.created, k.last_used`
	qInsertKey        = `INSERT INTO user_keys (user_id, fingerprint, key_type, public_key, comment, created, last_used) VALUES ($1, $2, $3, $4, $5, $6, 0) RETURNING id`
	qKeyByFingerprint = `SELECT ` + keyColumns + ` FROM user_keys k JOIN users u ON u.id = k.user_id WHERE k.fingerprint = $1`
	qUserKeys         = `SELECT ` + keyColumns + ` FROM user_keys k JOIN users u ON u.id = k.user_id WHERE k.user_id = $1 ORDER BY k.created`
	qDeleteKey        = `DELETE FROM user_keys WHERE user_id = $1 AND fingerprint = $2`
	qTouchKey         = `UPDATE user_keys SET last_used = $2 WHERE id = $1`
	qSetPasswordLogin = `UPDATE users SET password_login = $2, updated = $3 WHERE id = $1`
)

func scanKey(s scanner) (UserKey, error) {
	var k UserKey
	var created, used int64
	err := s.Scan(&k.ID, &k.UserID, &k.UserName, &k.Fingerprint, &k.KeyType, &k.PublicKey, &k.Comment, &created, &used)
	k.Created, k.LastUsed = fromMicro(created), fromMicro(used)
	return k, err
}

// InsertUserKey stores a key. Errors: Exist when the key is already registered (to anyone).
func (q Q) InsertUserKey(ctx context.Context, k UserKey) (UserKey, error) {
	err := q.q.QueryRowContext(ctx, qInsertKey, k.UserID, k.Fingerprint, k.KeyType, k.PublicKey, k.Comment, micro(k.Created)).Scan(&k.ID)
	return k, q.d.classify(err)
}

// KeyByFingerprint returns a registered key. Errors: NotFound.
func (q Q) KeyByFingerprint(ctx context.Context, fp string) (UserKey, error) {
	k, err := scanKey(q.q.QueryRowContext(ctx, qKeyByFingerprint, fp))
	return k, q.d.classify(err)
}

// UserKeys lists a user's keys, oldest first.
func (q Q) UserKeys(ctx context.Context, userID int64) ([]UserKey, error) {
	rows, err := q.q.QueryContext(ctx, qUserKeys, userID)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []UserKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, k)
	}
	return out, q.d.classify(rows.Err())
}

// DeleteUserKey removes one of a user's keys. Errors: NotFound.
func (q Q) DeleteUserKey(ctx context.Context, userID int64, fp string) error {
	return q.execOne(ctx, qDeleteKey, userID, fp)
}

// TouchUserKey records a key's use.
func (q Q) TouchUserKey(ctx context.Context, id int64, at time.Time) error {
	_, err := q.q.ExecContext(ctx, qTouchKey, id, micro(at))
	return q.d.classify(err)
}

// SetPasswordLogin allows or forbids password sign-in for a user. Errors: NotFound.
func (q Q) SetPasswordLogin(ctx context.Context, userID int64, allowed bool) error {
	return q.execOne(ctx, qSetPasswordLogin, userID, flag(allowed), micro(time.Now()))
}
