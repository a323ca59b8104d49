-- The defender (docs/architecture.md, "Defender"): scored events per client address and
-- the bans they lead to, shared by every node of a cluster.

-- One suspicious event (a failed sign-in, a probed parcel link...) and its weight.
CREATE TABLE defender_events (
    id      INTEGER PRIMARY KEY,
    ip      TEXT NOT NULL,
    kind    TEXT NOT NULL,
    weight  BIGINT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX defender_events_ip ON defender_events(ip, at);

-- A ban of an address. The row outlives the ban (until pruned) so that the next ban of
-- the same address is longer: strikes counts the bans, and the length doubles with each.
CREATE TABLE defender_bans (
    ip       TEXT PRIMARY KEY,
    until    BIGINT NOT NULL,
    strikes  BIGINT NOT NULL,
    reason   TEXT NOT NULL,
    created  BIGINT NOT NULL   -- when the latest ban began
);
CREATE INDEX defender_bans_until ON defender_bans(until);
