-- The later pieces of a partial upload (docs/format.md, "Partial uploads"). uploads.blob_id
-- holds the payload's nonce and the chunks its first transfer sealed; every later transfer
-- that seals chunks stores only those, in a blob of its own, recorded here in order.
-- Completing the upload copies them all, once, into the file's blob, so that an upload sent
-- in many pieces (a tus client's chunks) is not copied again with each piece.
CREATE TABLE upload_segments (
    upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,   -- 1, 2, ... in the order of the bytes
    blob_id   TEXT NOT NULL,
    size      BIGINT NOT NULL,   -- bytes stored in the blob: whole sealed chunks
    PRIMARY KEY (upload_id, seq)
);
CREATE INDEX upload_segments_blob ON upload_segments(blob_id);
