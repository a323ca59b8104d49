-- Small files (docs/format.md, "Small files"): the age payload of a file of at most
-- 64 KiB may be kept in its entry instead of a blob. A file row has either blob_id or
-- payload, never both.
ALTER TABLE entries ADD COLUMN payload BLOB;
