-- SSH public keys for SFTP, and whether a user may sign in with a password at all.
ALTER TABLE users ADD COLUMN password_login INTEGER NOT NULL DEFAULT 1;

CREATE TABLE user_keys (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL UNIQUE,       -- SHA256:base64, as OpenSSH prints it
    key_type    TEXT NOT NULL,
    public_key  BLOB NOT NULL,              -- the wire-format key
    comment     TEXT NOT NULL DEFAULT '',
    created     BIGINT NOT NULL,
    last_used   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX user_keys_user ON user_keys(user_id);
