"""Journal rows: append a signed draft, read a series' head, records and refunds.

Every function takes the connection of a transaction the caller opened; none commits.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from microhub.domain.journal import Draft, Head, Totals
from microhub.domain.verify import PublicKey, StoredRecord
from microhub.errors import Conflict, NotFound

__all__ = [
    "SeriesInfo",
    "add_key",
    "add_series",
    "append",
    "get_record",
    "head",
    "iter_bodies",
    "iter_rows",
    "iter_storage_order",
    "keys_for",
    "list_series",
    "refunds_of",
    "set_unsigned",
    "unsigned_of",
]


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    series: str
    register: str
    kind: str
    key_id: str
    head_seq: int
    unsigned: tuple[int, ...]


def add_key(conn: sqlite3.Connection, key: PublicKey, *, series: str, created: str) -> None:
    conn.execute(
        "INSERT INTO keys (key_id, alg, public_key, series, created) VALUES (?, ?, ?, ?, ?)",
        (key.key_id, key.alg, key.raw, series, created),
    )


def keys_for(conn: sqlite3.Connection, series: str | None = None) -> dict[str, PublicKey]:
    sql = "SELECT key_id, alg, public_key FROM keys"
    rows = conn.execute(sql + " WHERE series = ?", (series,)) if series else conn.execute(sql)
    return {r[0]: PublicKey(r[0], r[1], bytes(r[2])) for r in rows}


def add_series(
    conn: sqlite3.Connection, *, series: str, register: str, kind: str, key_id: str, created: str
) -> None:
    try:
        conn.execute(
            "INSERT INTO series (series, register, kind, key_id, head_seq, head_hash, head_totals,"
            " created) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
            (series, register, kind, key_id, "0" * 64, json.dumps(Totals().to_json()), created),
        )
    except sqlite3.IntegrityError:
        raise Conflict(
            f"series {series!r} already exists", code="series_exists", details={"series": series}
        ) from None


def head(conn: sqlite3.Connection, series: str) -> Head:
    row = conn.execute(
        "SELECT head_seq, head_hash, head_totals, key_id FROM series WHERE series = ?", (series,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no series {series!r}", details={"series": series})
    return Head(series, row[0], row[1], Totals.from_json(json.loads(row[2])), row[3])


def unsigned_of(conn: sqlite3.Connection, series: str) -> list[int]:
    row = conn.execute("SELECT unsigned FROM series WHERE series = ?", (series,)).fetchone()
    return list(json.loads(row[0])) if row else []


def set_unsigned(conn: sqlite3.Connection, series: str, seqs: list[int]) -> None:
    conn.execute("UPDATE series SET unsigned = ? WHERE series = ?", (json.dumps(seqs), series))


def append(conn: sqlite3.Connection, draft: Draft, signature: bytes | None) -> None:
    """Store ``draft`` and move its series' head. The draft must follow the current head."""
    body = draft.body
    ref = body.get("ref") or {}
    cur = conn.execute(
        "UPDATE series SET head_seq = ?, head_hash = ?, head_totals = ?, key_id = ?"
        " WHERE series = ? AND head_seq = ?",
        (
            draft.seq,
            draft.hash,
            json.dumps(body["totals"]),
            body.get("data", {}).get("key") if body["type"] == "key_change" else body["key"],
            body["series"],
            draft.seq - 1,
        ),
    )
    if cur.rowcount != 1:
        raise Conflict(
            f"{body['series']}-{draft.seq} does not follow the series head",
            code="not_head",
            details={"series": body["series"], "seq": draft.seq},
        )
    conn.execute(
        "INSERT INTO journal (series, seq, type, time, hash, signature, body, ref_series, ref_seq)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            body["series"],
            draft.seq,
            body["type"],
            body["time"],
            draft.hash,
            signature,
            draft.raw,
            ref.get("series"),
            ref.get("seq"),
        ),
    )


def get_record(
    conn: sqlite3.Connection, series: str, seq: int
) -> tuple[dict[str, Any], bytes, bytes | None]:
    """``(body, raw, signature)`` of one record, or ``NotFound``."""
    row = conn.execute(
        "SELECT body, signature FROM journal WHERE series = ? AND seq = ? ORDER BY id LIMIT 1",
        (series, seq),
    ).fetchone()
    if row is None:
        raise NotFound(
            f"no receipt {series}-{seq}", code="no_receipt", details={"receipt": f"{series}-{seq}"}
        )
    raw = bytes(row[0])
    return json.loads(raw), raw, (bytes(row[1]) if row[1] is not None else None)


def refunds_of(conn: sqlite3.Connection, series: str, seq: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT body FROM journal WHERE ref_series = ? AND ref_seq = ? ORDER BY id", (series, seq)
    )
    return [json.loads(r[0]) for r in rows]


def list_series(conn: sqlite3.Connection) -> list[SeriesInfo]:
    rows = conn.execute(
        "SELECT series, register, kind, key_id, head_seq, unsigned FROM series ORDER BY series"
    )
    return [SeriesInfo(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5]))) for r in rows]


def iter_rows(conn: sqlite3.Connection, series: str) -> Iterator[StoredRecord]:
    """All rows of a series in ``(seq, storage order)``, streamed."""
    cur = conn.execute(
        "SELECT seq, body, hash, signature FROM journal WHERE series = ? ORDER BY seq, id",
        (series,),
    )
    for seq, body, digest, signature in cur:
        yield StoredRecord(
            seq, bytes(body), digest, bytes(signature) if signature is not None else None
        )


def iter_storage_order(conn: sqlite3.Connection, series: str) -> Iterator[int]:
    cur = conn.execute("SELECT seq FROM journal WHERE series = ? ORDER BY id", (series,))
    for (seq,) in cur:
        yield seq


def iter_bodies(
    conn: sqlite3.Connection, series: str | None = None, *, after_seq: int = 0
) -> Iterator[tuple[dict[str, Any], bytes, bytes | None]]:
    """``(body, raw, signature)`` in sequence order: one series after ``after_seq``, or all."""
    if series is None:
        cur = conn.execute("SELECT body, signature FROM journal ORDER BY series, seq, id")
    else:
        cur = conn.execute(
            "SELECT body, signature FROM journal WHERE series = ? AND seq > ? ORDER BY seq, id",
            (series, after_seq),
        )
    for raw, signature in cur:
        data = bytes(raw)
        yield json.loads(data), data, (bytes(signature) if signature is not None else None)
