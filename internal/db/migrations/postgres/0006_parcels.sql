-- Parcels (docs/parcels.md): files sent to, or requested from, people without an account.

CREATE TABLE parcels (
    id              TEXT PRIMARY KEY,              -- public handle (32 hex digits); not a secret
    kind            TEXT NOT NULL,                 -- 'send' or 'request'
    owner_id        BIGINT NOT NULL REFERENCES users(id),
    folder_id       BIGINT NOT NULL REFERENCES folders(id), -- holds the contents; in nobody's tree
    state           TEXT NOT NULL,                 -- 'draft', 'sent', 'open', 'closed'
    subject         TEXT NOT NULL,
    message         TEXT NOT NULL,
    e2e             BIGINT NOT NULL,
    kdf_salt        BYTEA,                          -- e2e with a passphrase: the PBKDF2 salt
    manifest        TEXT NOT NULL DEFAULT '',      -- e2e send: the sealed manifest (base64url)
    passphrase_hash TEXT NOT NULL DEFAULT '',      -- argon2id PHC string; '' = no passphrase
    max_downloads   BIGINT NOT NULL,               -- per recipient and file; 0 = unlimited
    notify          BIGINT NOT NULL,
    lifetime        BIGINT NOT NULL,               -- microseconds from sending to expiry
    created         BIGINT NOT NULL,
    sent            BIGINT NOT NULL DEFAULT 0,     -- when the links were made
    expires         BIGINT NOT NULL,
    revoked         BIGINT NOT NULL DEFAULT 0,
    purged          BIGINT NOT NULL DEFAULT 0      -- when the contents were deleted
);
CREATE INDEX parcels_owner ON parcels(owner_id, created);
CREATE INDEX parcels_expires ON parcels(purged, expires);

CREATE TABLE parcel_recipients (
    id             TEXT PRIMARY KEY,               -- public handle (32 hex digits)
    parcel_id      TEXT NOT NULL REFERENCES parcels(id) ON DELETE CASCADE,
    email          TEXT NOT NULL,                  -- '' for the one link of a parcel without recipients
    token_hash     BYTEA UNIQUE,                    -- SHA-256 of the link token; NULL until the link is made
    created        BIGINT NOT NULL,
    revoked        BIGINT NOT NULL DEFAULT 0,
    failed_unlocks BIGINT NOT NULL DEFAULT 0,
    views          BIGINT NOT NULL DEFAULT 0,
    first_view     BIGINT NOT NULL DEFAULT 0,
    last_view      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX parcel_recipients_parcel ON parcel_recipients(parcel_id);

CREATE TABLE parcel_files (
    id        TEXT PRIMARY KEY,                    -- public handle (32 hex digits); the entry's name in the folder
    parcel_id TEXT NOT NULL REFERENCES parcels(id) ON DELETE CASCADE,
    name      TEXT NOT NULL,                       -- the file name; e2e: the sealed metadata
    size      BIGINT NOT NULL,                     -- bytes stored (e2e: of the ciphertext)
    sha256    BYTEA NOT NULL,
    uploader  TEXT NOT NULL,                       -- '' the owner, else the recipient id
    created   BIGINT NOT NULL,
    UNIQUE (parcel_id, uploader, name)     -- per uploader: one recipient never learns another's names
);

-- Delivery receipts: how often each recipient downloaded each file.
CREATE TABLE parcel_downloads (
    recipient_id TEXT NOT NULL REFERENCES parcel_recipients(id) ON DELETE CASCADE,
    file_id      TEXT NOT NULL REFERENCES parcel_files(id) ON DELETE CASCADE,
    count        BIGINT NOT NULL,
    first_at     BIGINT NOT NULL,
    last_at      BIGINT NOT NULL,
    PRIMARY KEY (recipient_id, file_id)
);
