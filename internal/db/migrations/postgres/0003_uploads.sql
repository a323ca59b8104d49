-- Partial uploads: what an interrupted upload stored, for its owner to continue
-- (docs/format.md, "Partial uploads"). At most one per user and path.
CREATE TABLE uploads (
    id           TEXT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id),
    folder_id    BIGINT NOT NULL REFERENCES folders(id),
    path         TEXT NOT NULL,          -- the file's components inside the folder, joined by '/'
    blob_id      TEXT NOT NULL,          -- payload nonce and the sealed chunks
    size         BIGINT NOT NULL,        -- plaintext bytes stored, in the chunks and the tail
    crypt_header BYTEA NOT NULL,
    hash_state   BYTEA NOT NULL,         -- SHA-256 state after the chunks (not the tail)
    tail         BYTEA,                  -- pending bytes after the chunks, sealed (docs/format.md)
    length       BIGINT NOT NULL,        -- the whole file's announced size, or -1
    want_sha256  BYTEA,                  -- the whole file's announced SHA-256, if any
    vpath        TEXT NOT NULL,          -- the virtual path as the owner named it
    lease_until  BIGINT NOT NULL,        -- while later than now, a transfer is appending to it
    created      BIGINT NOT NULL,
    expires      BIGINT NOT NULL,
    UNIQUE (user_id, folder_id, path)
);
CREATE INDEX uploads_expires ON uploads(expires);
CREATE INDEX uploads_blob ON uploads(blob_id);
