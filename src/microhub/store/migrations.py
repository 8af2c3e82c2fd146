"""Schema migrations, applied in order and recorded in ``PRAGMA user_version``.

Append a new script to ``MIGRATIONS`` to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Public keys of every register that ever signed a record here (hub and devices).
CREATE TABLE keys (
    key_id     TEXT PRIMARY KEY,
    alg        TEXT NOT NULL CHECK (alg IN ('ed25519', 'es256')),
    public_key BLOB NOT NULL,
    series     TEXT NOT NULL,
    created    TEXT NOT NULL,
    retired    TEXT
);

-- One row per register series: its chain head, so appends need no scan.
CREATE TABLE series (
    series         TEXT PRIMARY KEY,
    register       TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('hub', 'device')),
    key_id         TEXT NOT NULL,
    head_seq       INTEGER NOT NULL,
    head_hash      TEXT NOT NULL,
    head_totals    TEXT NOT NULL,
    unsigned       TEXT NOT NULL DEFAULT '[]',
    created        TEXT NOT NULL
);

CREATE TABLE journal (
    id         INTEGER PRIMARY KEY,
    series     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    type       TEXT NOT NULL,
    time       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    signature  BLOB,
    body       BLOB NOT NULL,
    ref_series TEXT,
    ref_seq    INTEGER
);
CREATE UNIQUE INDEX journal_series_seq ON journal (series, seq);
CREATE INDEX journal_ref ON journal (ref_series, ref_seq) WHERE ref_series IS NOT NULL;
CREATE INDEX journal_type ON journal (series, type, seq);

-- The journal is append-only. (Someone with the file can drop these; the verifier still sees it.)
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;

-- Every business write appends here in the same transaction; sync ships it.
CREATE TABLE outbox (
    hub_seq  INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    lane     TEXT NOT NULL CHECK (lane IN ('money', 'consent', 'content', 'telemetry')),
    type     TEXT NOT NULL,
    payload  BLOB NOT NULL,
    hlc      TEXT NOT NULL,
    schema   INTEGER NOT NULL,
    created  TEXT NOT NULL
);
CREATE INDEX outbox_lane ON outbox (lane, hub_seq);

CREATE TABLE catalog (
    sku         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    price       INTEGER NOT NULL,
    tax_rate_bp INTEGER NOT NULL,
    category    TEXT NOT NULL DEFAULT '',
    tags        TEXT NOT NULL DEFAULT '[]',
    stock       INTEGER,
    active      INTEGER NOT NULL DEFAULT 1,
    updated     TEXT NOT NULL
);
"""

# Paired devices (phones and tablets), their pairing codes, the manager PIN and its rate limit,
# walk-ins counted on devices, business issues found in device records, and clock skew seen.
_V2_DEVICES = """
CREATE TABLE devices (
    device_id    TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('cashier', 'manager', 'creator')),
    series       TEXT NOT NULL UNIQUE,
    token_hash   TEXT UNIQUE,
    key_id       TEXT,
    pin_hash     TEXT,
    created      TEXT NOT NULL,
    paired       TEXT,
    revoked      TEXT,
    last_seen    TEXT,
    last_upload  TEXT,
    device_head  INTEGER NOT NULL DEFAULT 0,
    skew_ms      INTEGER,
    refused_after_revoke INTEGER NOT NULL DEFAULT 0
);

-- Only a hash of each pairing code is kept; a code works once and until it expires.
CREATE TABLE pairing_codes (
    code_hash TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices (device_id),
    created   TEXT NOT NULL,
    expires   TEXT NOT NULL,
    used      TEXT
);

-- Wrong manager PINs per requesting device (rate limit).
CREATE TABLE pin_failures (
    device_id    TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    locked_until TEXT
);

CREATE TABLE walkins (
    walkin_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    time      TEXT NOT NULL,
    count     INTEGER NOT NULL CHECK (count > 0),
    received  TEXT NOT NULL
);
CREATE INDEX walkins_time ON walkins (time);

-- Business issues in device records that were journaled anyway (the sale happened): for review.
CREATE TABLE device_rejects (
    id        INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    series    TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    code      TEXT NOT NULL,
    field     TEXT NOT NULL,
    message   TEXT NOT NULL,
    received  TEXT NOT NULL,
    resolved  TEXT
);
CREATE INDEX device_rejects_open ON device_rejects (resolved, id);

-- Device clock readings against the hub's clock (recorded, never trusted for ordering).
CREATE TABLE device_skew (
    id        INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    observed  TEXT NOT NULL,
    skew_ms   INTEGER NOT NULL
);
"""

_V3_VAULT = """
-- The vault (see docs/vault.md). Personal fields are AES-GCM ciphertext under the person's key.
CREATE TABLE people (
    person_id TEXT PRIMARY KEY,
    pseudonym TEXT NOT NULL UNIQUE,
    created   TEXT NOT NULL,
    confirmed TEXT,
    erased    TEXT,
    email     BLOB,
    name      BLOB,
    phone     BLOB
);

-- Per-person keys, wrapped by the hub key, apart from the data. Deleting a row erases the person.
CREATE TABLE person_keys (
    person_id  TEXT PRIMARY KEY,
    hub_key_id TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created    TEXT NOT NULL
);

-- Keyed blind index (HMAC-SHA256) for look-ups by email; never plaintext.
CREATE TABLE person_index (
    kind      TEXT NOT NULL,
    digest    BLOB NOT NULL,
    person_id TEXT NOT NULL,
    PRIMARY KEY (kind, digest)
);
CREATE INDEX person_index_person ON person_index (person_id);

-- Signed consent grants and withdrawals (JWS); withdraw wins ties.
CREATE TABLE consents (
    receipt_id TEXT PRIMARY KEY,
    person_id  TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('grant', 'withdraw')),
    at         INTEGER NOT NULL,
    token      TEXT NOT NULL,
    created    TEXT NOT NULL
);
CREATE INDEX consents_person ON consents (person_id, purpose, at);
"""

# Sync state on the hub (issue 4): the joined cloud, one cursor per lane, the cloud's signed
# series anchors, and the configuration pull cursor. Cursors only move forward.
_V4_SYNC = """
CREATE TABLE sync_peer (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    cloud_url        TEXT NOT NULL,
    org_id           TEXT NOT NULL,
    hub_name         TEXT NOT NULL,
    transport_key    TEXT NOT NULL,
    cloud_key_id     TEXT NOT NULL,
    cloud_public_key BLOB NOT NULL,
    joined           TEXT NOT NULL,
    clock_offset_ms  INTEGER NOT NULL DEFAULT 0,
    config_cursor    INTEGER NOT NULL DEFAULT 0,
    last_attempt     TEXT,
    last_success     TEXT,
    last_error       TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sync_lanes (
    lane         TEXT PRIMARY KEY CHECK (lane IN ('money', 'consent', 'content', 'telemetry')),
    cursor       INTEGER NOT NULL DEFAULT 0,
    last_success TEXT,
    events_sent  INTEGER NOT NULL DEFAULT 0,
    bytes_sent   INTEGER NOT NULL DEFAULT 0,
    rejects      INTEGER NOT NULL DEFAULT 0,
    alarms       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sync_anchors (
    series       TEXT PRIMARY KEY,
    seq          INTEGER NOT NULL,
    hash         TEXT NOT NULL,
    signature    TEXT NOT NULL,
    cloud_key_id TEXT NOT NULL,
    received     TEXT NOT NULL
);
"""

_V5_EVENTS = """
-- Events: a named period at a venue; KPIs are reported per event (see services/events.py).
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    venue    TEXT NOT NULL,
    starts   TEXT NOT NULL,
    ends     TEXT NOT NULL,
    timezone TEXT NOT NULL,
    created  TEXT NOT NULL
);
CREATE INDEX events_starts ON events (starts);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2_DEVICES, _V3_VAULT, _V4_SYNC, _V5_EVENTS)
