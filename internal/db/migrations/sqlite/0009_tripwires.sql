-- Exfiltration tripwires (docs/tripwires.md): download counters per account and hour,
-- canary marks, alerts, and the suspension of an account pending an administrator's review.

-- When (Unix microseconds) the account was suspended by a tripwire; 0 = not suspended.
-- A suspended account cannot sign in on any protocol until an administrator lifts it.
ALTER TABLE users ADD COLUMN suspended BIGINT NOT NULL DEFAULT 0;

-- Downloads counted per account (user_id 0 = all accounts together) and hour (Unix
-- time / 3600). Days and baselines are sums over these rows.
CREATE TABLE download_counts (
    user_id BIGINT NOT NULL,
    hour    BIGINT NOT NULL,
    files   BIGINT NOT NULL DEFAULT 0,
    bytes   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, hour)
);
CREATE INDEX download_counts_hour ON download_counts(hour);

-- Files and directories whose every read (and, for directories and their children,
-- every listing) raises an alert. The mark goes with the entry: deleting it forgets it.
CREATE TABLE canaries (
    entry_id   BIGINT PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
    created    BIGINT NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    at              BIGINT NOT NULL,
    kind            TEXT NOT NULL,              -- 'canary', 'volume', 'anomaly', 'admin', 'token', 'grant'
    account         TEXT NOT NULL,              -- the account whose action raised it
    path            TEXT NOT NULL,
    action          TEXT NOT NULL,              -- what the tripwire did: 'alert', 'throttle', 'suspend'
    detail          TEXT NOT NULL,
    acknowledged    BIGINT NOT NULL DEFAULT 0,  -- when; 0 = open
    acknowledged_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alerts_open ON alerts(acknowledged, id);
CREATE INDEX alerts_kind ON alerts(kind, account, at);
