-- Per-user access limits (docs/architecture.md, "Defender"): allowed_ips is a
-- comma-separated list of CIDR prefixes or addresses the user may sign in from ('' =
-- anywhere); protocols is a comma-separated subset of web,api,sftp ('' = all).
ALTER TABLE users ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN protocols TEXT NOT NULL DEFAULT '';
