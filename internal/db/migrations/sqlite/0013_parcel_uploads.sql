-- Resumable uploads into parcels (docs/parcels.md, "Resumable uploads"). A partial upload
-- into a folder that a use case owns (a parcel's) belongs to no user: user_id becomes
-- NULL for those, so that no user's upload endpoints can ever find one. SQLite cannot
-- drop a NOT NULL constraint: the table is rebuilt (nothing references it yet).
CREATE TABLE uploads_new (
    id           TEXT PRIMARY KEY,
    user_id      BIGINT REFERENCES users(id), -- NULL: an upload into an owned folder
    folder_id    BIGINT NOT NULL REFERENCES folders(id),
    path         TEXT NOT NULL,
    blob_id      TEXT NOT NULL,
    size         BIGINT NOT NULL,
    crypt_header BLOB NOT NULL,
    hash_state   BLOB NOT NULL,
    tail         BLOB,
    length       BIGINT NOT NULL,
    want_sha256  BLOB,
    vpath        TEXT NOT NULL,
    lease_until  BIGINT NOT NULL,
    created      BIGINT NOT NULL,
    expires      BIGINT NOT NULL,
    UNIQUE (user_id, folder_id, path)
);
INSERT INTO uploads_new SELECT id, user_id, folder_id, path, blob_id, size, crypt_header, hash_state, tail, length,
    want_sha256, vpath, lease_until, created, expires FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_new RENAME TO uploads;
CREATE INDEX uploads_expires ON uploads(expires);
CREATE INDEX uploads_blob ON uploads(blob_id);
CREATE INDEX uploads_folder ON uploads(folder_id);

-- Which parcel, and whose link, a partial upload into a parcel's folder belongs to. The
-- row goes with its upload (completed, discarded, expired or purged).
CREATE TABLE parcel_uploads (
    upload_id TEXT PRIMARY KEY REFERENCES uploads(id) ON DELETE CASCADE,
    parcel_id TEXT NOT NULL REFERENCES parcels(id) ON DELETE CASCADE,
    uploader  TEXT NOT NULL,  -- '' the owner, else the recipient id
    name      TEXT NOT NULL,  -- the file name; e2e: the sealed metadata
    file_id   TEXT NOT NULL,  -- the file's id (its entry's name in the folder) once complete
    created   BIGINT NOT NULL,
    UNIQUE (parcel_id, uploader, name)
);
