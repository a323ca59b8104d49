-- Web sign-in (docs/web-auth.md): server-side sessions, the TOTP second factor, recovery
-- codes, and whether an administrator requires two-factor sign-in of a user.
ALTER TABLE users ADD COLUMN require_2fa BIGINT NOT NULL DEFAULT 0;

CREATE TABLE web_sessions (
    id               TEXT PRIMARY KEY,          -- public handle for lists and ending; not the secret
    user_id          BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_hash      BYTEA NOT NULL UNIQUE,     -- SHA-256 of the cookie value; the value is never stored
    state            TEXT NOT NULL,             -- 'totp' (awaiting the second factor), 'enrol' (must set up 2FA), 'ok'
    method           TEXT NOT NULL,             -- how it was signed in: 'password', 'password+totp'...
    created          BIGINT NOT NULL,
    last_seen        BIGINT NOT NULL,           -- updated at most once a minute
    expires          BIGINT NOT NULL,           -- absolute expiry
    idle_timeout     BIGINT NOT NULL,           -- microseconds after last_seen
    authenticated_at BIGINT NOT NULL,           -- when the password was last entered (sign-in, re-authentication)
    source_ip        TEXT NOT NULL,
    user_agent       TEXT NOT NULL              -- truncated
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
CREATE INDEX web_sessions_expires ON web_sessions(expires);

-- A user's TOTP key, sealed under a KEK (docs/format.md, "Sealed secrets"). confirmed is 0
-- while enrolment waits for its first code; last_step is the newest time step used, so
-- that each code signs in once.
CREATE TABLE totp_keys (
    user_id   BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    key_id    TEXT NOT NULL,
    sealed    BYTEA NOT NULL,
    created   BIGINT NOT NULL,
    confirmed BIGINT NOT NULL DEFAULT 0,
    last_step BIGINT NOT NULL DEFAULT 0
);

-- One-time recovery codes, stored as SHA-256 hashes (they have 80 bits of entropy).
CREATE TABLE recovery_codes (
    user_id   BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    created   BIGINT NOT NULL,
    used      BIGINT NOT NULL DEFAULT 0,        -- when it was used; 0 = still valid
    PRIMARY KEY (user_id, code_hash)
);
