"""The outbox: a copy of every business write, with a gapless hub-wide sequence, for sync.

``hub_seq`` is ``max + 1`` inside the writer's transaction, so it has no gaps even when a
transaction rolls back. ``event_id`` is a UUIDv7. The hybrid logical clock's last value is kept
in ``meta`` so it never goes backwards across restarts, whatever the wall clock does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from microhub.domain.canonical import canonical
from microhub.domain.hlc import HLC

__all__ = ["LANES", "OutboxEvent", "append", "iter_events", "last_hlc"]

LANES = ("money", "consent", "content", "telemetry")
SCHEMA = 1


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    hub_seq: int
    event_id: str
    lane: str
    type: str
    payload: bytes
    hlc: str
    schema: int
    created: str


def last_hlc(conn: sqlite3.Connection) -> HLC:
    row = conn.execute("SELECT value FROM meta WHERE key = 'hlc'").fetchone()
    return HLC.parse(row[0]) if row else HLC()


def append(
    conn: sqlite3.Connection,
    *,
    event_id: str,
    lane: str,
    event_type: str,
    payload: dict[str, Any] | bytes,
    now_ms: int,
    created: str,
) -> OutboxEvent:
    """Append one event in the caller's transaction and return it.

    ``payload`` is a JSON object, or its canonical bytes when the caller already has them.
    """
    if lane not in LANES:
        raise ValueError(f"unknown lane {lane!r}")
    stamp = last_hlc(conn).tick(now_ms)
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('hlc', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(stamp),),
    )
    raw = payload if isinstance(payload, bytes) else canonical(payload)
    hub_seq = int(
        conn.execute(
            "INSERT INTO outbox (hub_seq, event_id, lane, type, payload, hlc, schema, created)"
            " VALUES ((SELECT COALESCE(MAX(hub_seq), 0) + 1 FROM outbox), ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING hub_seq",
            (event_id, lane, event_type, raw, str(stamp), SCHEMA, created),
        ).fetchone()[0]
    )
    return OutboxEvent(hub_seq, event_id, lane, event_type, raw, str(stamp), SCHEMA, created)


def iter_events(
    conn: sqlite3.Connection, *, after: int = 0, lane: str | None = None
) -> Iterator[OutboxEvent]:
    sql = "SELECT hub_seq, event_id, lane, type, payload, hlc, schema, created FROM outbox WHERE hub_seq > ?"
    params: tuple[Any, ...] = (after,)
    if lane is not None:
        sql += " AND lane = ?"
        params += (lane,)
    for row in conn.execute(sql + " ORDER BY hub_seq", params):
        yield OutboxEvent(row[0], row[1], row[2], row[3], bytes(row[4]), row[5], row[6], row[7])
