-- Leases of periodic jobs (docs/deploy.md, "Periodic jobs"): each job runs on one node at
-- a time. holder names the node process that holds the lease; until is when the lease
-- lapses unless renewed, after which any node may take it; ran is when the job last
-- finished a run, on whichever node, so that a node taking over does not run it early.
CREATE TABLE job_leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL,
    ran    BIGINT NOT NULL DEFAULT 0
);
