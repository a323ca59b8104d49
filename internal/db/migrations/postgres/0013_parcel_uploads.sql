-- Resumable uploads into parcels (docs/parcels.md, "Resumable uploads"). A partial upload
-- into a folder that a use case owns (a parcel's) belongs to no user: user_id becomes
-- NULL for those, so that no user's upload endpoints can ever find one.
ALTER TABLE uploads ALTER COLUMN user_id DROP NOT NULL;
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
