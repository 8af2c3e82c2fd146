"""The cloud's schema for both backends, as numbered scripts (append; never edit a shipped one).

Every hub-owned table starts its key with ``(org_id, hub_id)``: the partition key a distributed
PostgreSQL (Citus ``create_distributed_table(..., 'org_id')``) or native partitioning would use.
The PostgreSQL scripts and the SQLite scripts describe the same tables; only types differ.
"""

from __future__ import annotations

__all__ = ["POSTGRES", "SQLITE"]

_COMMON = """
CREATE TABLE cloud_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE orgs (
    org_id           TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    admin_token_hash TEXT NOT NULL UNIQUE,
    created          TEXT NOT NULL
);
CREATE TABLE enrollments (
    token_hash TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (org_id),
    name       TEXT NOT NULL,
    expires    TEXT NOT NULL,
    created    TEXT NOT NULL,
    used       TEXT,
    hub_id     TEXT
);
CREATE TABLE hubs (
    org_id       TEXT NOT NULL REFERENCES orgs (org_id),
    hub_id       TEXT NOT NULL,
    name         TEXT NOT NULL,
    key_id       TEXT NOT NULL UNIQUE,
    public_key   {BLOB} NOT NULL,
    joined       TEXT NOT NULL,
    outbox_head  BIGINT NOT NULL DEFAULT 0,
    last_push    TEXT,
    skew_s       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, hub_id)
);
CREATE UNIQUE INDEX hubs_hub_id ON hubs (hub_id);
CREATE TABLE lanes (
    org_id         TEXT NOT NULL,
    hub_id         TEXT NOT NULL,
    lane           TEXT NOT NULL,
    acked_through  BIGINT NOT NULL DEFAULT 0,
    duplicates     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, hub_id, lane)
);
CREATE TABLE events (
    org_id       TEXT NOT NULL,
    hub_id       TEXT NOT NULL,
    hub_seq      BIGINT NOT NULL,
    event_id     TEXT NOT NULL,
    lane         TEXT NOT NULL,
    type         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    hlc          TEXT NOT NULL,
    schema       INTEGER NOT NULL,
    created      TEXT NOT NULL,
    received     TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    PRIMARY KEY (org_id, hub_id, hub_seq)
);
CREATE UNIQUE INDEX events_event_id ON events (org_id, hub_id, event_id);
CREATE TABLE series_heads (
    org_id     TEXT NOT NULL,
    hub_id     TEXT NOT NULL,
    series     TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    keys       TEXT NOT NULL,
    anchor_sig TEXT NOT NULL,
    PRIMARY KEY (org_id, hub_id, series)
);
CREATE TABLE rejects (
    org_id  TEXT NOT NULL,
    hub_id  TEXT NOT NULL,
    hub_seq BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (org_id, hub_id, hub_seq, kind)
);
CREATE TABLE alarms (
    id       {SERIAL},
    org_id   TEXT NOT NULL,
    hub_id   TEXT NOT NULL,
    hub_seq  BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    detail   TEXT NOT NULL,
    body     TEXT NOT NULL,
    created  TEXT NOT NULL
);
CREATE INDEX alarms_hub ON alarms (org_id, hub_id);
CREATE TABLE audit (
    id      {SERIAL},
    org_id  TEXT,
    hub_id  TEXT,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE nonces (
    hub_id  TEXT NOT NULL,
    nonce   TEXT NOT NULL,
    seen_s  BIGINT NOT NULL,
    PRIMARY KEY (hub_id, nonce)
);
CREATE INDEX nonces_seen ON nonces (seen_s);
CREATE TABLE config (
    cursor  {SERIAL},
    org_id  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    body    TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX config_org ON config (org_id, cursor);
"""

SQLITE: tuple[str, ...] = (
    _COMMON.replace("{BLOB}", "BLOB").replace("{SERIAL}", "INTEGER PRIMARY KEY AUTOINCREMENT"),
)
POSTGRES: tuple[str, ...] = (
    _COMMON.replace("{BLOB}", "BYTEA").replace(
        "{SERIAL}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    ),
)
