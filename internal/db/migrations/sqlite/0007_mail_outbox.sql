-- The mail outbox (docs/notify.md): e-mail waiting to be sent, written in the transaction
-- of the action it reports, and deleted once the mail server accepted it or the outbox
-- gave up on it. Its bodies hold link tokens (bearer secrets): they are encrypted with the
-- at-rest file format (docs/format.md) under the key-encryption key, header and payload
-- here; only the recipient's domain is in plain text, for logs.
CREATE TABLE mail_outbox (
    id          TEXT PRIMARY KEY,           -- 32 hex digits
    kind        TEXT NOT NULL,              -- what the mail is about: parcel.sent, parcel.request, ...
    topic       TEXT UNIQUE,                -- while one mail of a topic waits, another is not queued; NULL: none
    rcpt_domain TEXT NOT NULL,
    header      BLOB NOT NULL,              -- the encrypted message: crypt header (wrapped key)
    body        BLOB NOT NULL,              -- ... and payload (JSON: to, subject, text, html)
    created     BIGINT NOT NULL,
    give_up     BIGINT NOT NULL,            -- after this, a failed attempt is the last
    next_try    BIGINT NOT NULL,            -- due from then; an attempt in progress moves it on
    attempts    BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX mail_outbox_due ON mail_outbox(next_try);

-- Where a user's notifications go ("your parcel was downloaded"); '' = none.
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';
