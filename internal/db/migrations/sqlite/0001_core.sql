-- Coffer schema v1 (SQLite). Times are Unix microseconds (BIGINT); flags are 0/1 integers,
-- so that every query text is shared with PostgreSQL.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE kek_checks (
    key_id      TEXT PRIMARY KEY,
    check_value BLOB NOT NULL,
    created     BIGINT NOT NULL
);

CREATE TABLE folders (
    id          INTEGER PRIMARY KEY,
    name        TEXT UNIQUE,                 -- NULL for home folders
    owner_id    BIGINT,                      -- the user whose home this is; NULL for shared folders
    quota_bytes BIGINT NOT NULL DEFAULT 0,   -- 0 = unlimited
    used_bytes  BIGINT NOT NULL DEFAULT 0,
    created     BIGINT NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL DEFAULT '',
    is_admin       INTEGER NOT NULL DEFAULT 0,
    disabled       INTEGER NOT NULL DEFAULT 0,
    home_folder_id BIGINT NOT NULL REFERENCES folders(id),
    created        BIGINT NOT NULL,
    updated        BIGINT NOT NULL
);

CREATE TABLE account_groups (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES account_groups(id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);

CREATE TABLE grants (
    id        INTEGER PRIMARY KEY,
    folder_id BIGINT NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    user_id   BIGINT REFERENCES users(id) ON DELETE CASCADE,
    group_id  BIGINT REFERENCES account_groups(id) ON DELETE CASCADE,
    perms     BIGINT NOT NULL,
    created   BIGINT NOT NULL,
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE UNIQUE INDEX grants_user ON grants(folder_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX grants_group ON grants(folder_id, group_id) WHERE group_id IS NOT NULL;
CREATE INDEX grants_by_user ON grants(user_id);
CREATE INDEX grants_by_group ON grants(group_id);

-- One row per file or directory. parent_id 0 is the folder's root.
CREATE TABLE entries (
    id           INTEGER PRIMARY KEY,
    folder_id    BIGINT NOT NULL REFERENCES folders(id),
    parent_id    BIGINT NOT NULL,
    name         TEXT NOT NULL,
    is_dir       INTEGER NOT NULL,
    size         BIGINT NOT NULL DEFAULT 0,
    sha256       BLOB,
    blob_id      TEXT,
    crypt_header BLOB,
    created      BIGINT NOT NULL,
    modified     BIGINT NOT NULL,
    UNIQUE (folder_id, parent_id, name)
);

-- A blob id is recorded here before its first byte is written, and removed in the
-- transaction that publishes it; what remains after a crash is garbage to collect.
CREATE TABLE pending_blobs (
    blob_id TEXT PRIMARY KEY,
    created BIGINT NOT NULL
);

-- Blobs no longer referenced, to delete after the transaction that unreferenced them.
CREATE TABLE garbage_blobs (
    blob_id TEXT PRIMARY KEY,
    created BIGINT NOT NULL
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_hash BLOB NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    created     BIGINT NOT NULL,
    expires     BIGINT NOT NULL,
    last_used   BIGINT NOT NULL DEFAULT 0,
    revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tokens_user ON tokens(user_id);

-- Failed logins by scope ('user' or 'ip') and subject, for lockout.
CREATE TABLE login_failures (
    id      INTEGER PRIMARY KEY,
    scope   TEXT NOT NULL,
    subject TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX login_failures_subject ON login_failures(scope, subject, at);

CREATE TABLE lockouts (
    scope   TEXT NOT NULL,
    subject TEXT NOT NULL,
    until   BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    protocol  TEXT NOT NULL,
    action    TEXT NOT NULL,
    path      TEXT NOT NULL,
    target    TEXT NOT NULL,
    bytes     BIGINT NOT NULL,
    result    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL,
    key_id    TEXT NOT NULL,
    mac       BLOB NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_actor ON audit_log(actor, seq);

-- The sealed head of the audit chain: one row, updated in the transaction of each append,
-- which also serialises appenders.
CREATE TABLE audit_head (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    seq    BIGINT NOT NULL,
    hash   BLOB NOT NULL,
    key_id TEXT NOT NULL,
    mac    BLOB NOT NULL
);
