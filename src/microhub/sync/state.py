"""The hub's sync state in its SQLite database (tables from migration 4).

Rules: a lane cursor only moves forward (``MAX(cursor, new)`` in SQL); the configuration cursor
is stored in the same transaction that applies the configuration; anchors are replaced only by a
newer head of the same series.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from microhub.errors import ConfigurationError
from microhub.sync.wire import LANES

__all__ = [
    "Peer",
    "cursors",
    "load_peer",
    "move_cursor",
    "pending",
    "save_anchor",
    "save_peer",
]


@dataclass(frozen=True, slots=True)
class Peer:
    cloud_url: str
    org_id: str
    hub_name: str
    transport_key: str
    cloud_key_id: str
    cloud_public_key: bytes
    clock_offset_ms: int
    config_cursor: int


def load_peer(conn: sqlite3.Connection, *, required: bool = True) -> Peer | None:
    row = conn.execute(
        "SELECT cloud_url, org_id, hub_name, transport_key, cloud_key_id, cloud_public_key,"
        " clock_offset_ms, config_cursor FROM sync_peer WHERE id = 1"
    ).fetchone()
    if row is None:
        if required:
            raise ConfigurationError(
                "this hub has not joined a cloud: run 'microhub join CLOUD_URL TOKEN' first",
                code="not_joined",
            )
        return None
    return Peer(row[0], row[1], row[2], row[3], row[4], bytes(row[5]), int(row[6]), int(row[7]))


def save_peer(conn: sqlite3.Connection, peer: Peer, *, joined: str) -> None:
    conn.execute(
        "INSERT INTO sync_peer (id, cloud_url, org_id, hub_name, transport_key, cloud_key_id,"
        " cloud_public_key, joined, clock_offset_ms) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            peer.cloud_url,
            peer.org_id,
            peer.hub_name,
            peer.transport_key,
            peer.cloud_key_id,
            peer.cloud_public_key,
            joined,
            peer.clock_offset_ms,
        ),
    )
    for lane in LANES:
        conn.execute("INSERT OR IGNORE INTO sync_lanes (lane) VALUES (?)", (lane,))


def cursors(conn: sqlite3.Connection) -> dict[str, int]:
    out = dict.fromkeys(LANES, 0)
    out.update({r[0]: int(r[1]) for r in conn.execute("SELECT lane, cursor FROM sync_lanes")})
    return out


def move_cursor(
    conn: sqlite3.Connection,
    *,
    lane: str,
    to: int,
    now: str,
    events: int = 0,
    sent_bytes: int = 0,
    rejects: int = 0,
    alarms: int = 0,
) -> None:
    conn.execute(
        "UPDATE sync_lanes SET cursor = MAX(cursor, ?), last_success = ?,"
        " events_sent = events_sent + ?, bytes_sent = bytes_sent + ?, rejects = rejects + ?,"
        " alarms = alarms + ? WHERE lane = ?",
        (to, now, events, sent_bytes, rejects, alarms, lane),
    )


def save_anchor(conn: sqlite3.Connection, anchor: dict[str, Any], *, now: str) -> None:
    conn.execute(
        "INSERT INTO sync_anchors (series, seq, hash, signature, cloud_key_id, received)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (series) DO UPDATE SET seq = excluded.seq,"
        " hash = excluded.hash, signature = excluded.signature,"
        " cloud_key_id = excluded.cloud_key_id, received = excluded.received"
        " WHERE excluded.seq >= sync_anchors.seq",
        (
            str(anchor["series"]),
            int(anchor["seq"]),
            str(anchor["hash"]),
            str(anchor["signature"]),
            str(anchor["key_id"]),
            now,
        ),
    )


def pending(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Per lane: events not yet acknowledged and the creation time of the oldest."""
    out: dict[str, dict[str, Any]] = {}
    for lane, cursor in cursors(conn).items():
        row = conn.execute(
            "SELECT COUNT(*), MIN(created) FROM outbox WHERE lane = ? AND hub_seq > ?",
            (lane, cursor),
        ).fetchone()
        out[lane] = {"cursor": cursor, "pending": int(row[0]), "oldest": row[1]}
    return out
