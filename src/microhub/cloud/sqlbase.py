"""The SQL both cloud backends share; each backend supplies connections and its dialect.

Queries are written with ``?`` placeholders; the PostgreSQL backend rewrites them to ``%s``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from microhub.cloud.store import (
    Alarm,
    ConfigChange,
    HubRecord,
    IngestTx,
    Org,
    SeriesHead,
    StoredEvent,
)
from microhub.domain.event import Event, event_for
from microhub.errors import Conflict, NotFound
from microhub.sync.wire import LANES, WireEvent

__all__ = ["EVENT_COLUMNS", "OFFLINE_AFTER_S", "SqlCloudStore", "SqlIngestTx", "catch_up_seconds"]

EVENT_COLUMNS = (
    "org_id", "hub_id", "hub_seq", "event_id", "lane", "type", "payload", "hlc", "schema",
    "created", "received", "content_hash",
)  # fmt: skip
OFFLINE_AFTER_S = 60  # a record that reached the cloud later than this was created offline


@dataclass
class _EventTally:
    """Money-lane records of one event (or of no event), for the offline sync KPI."""

    records: int = 0
    offline: int = 0
    offline_ok: int = 0
    delays: list[float] = field(default_factory=list)
    arrivals: list[datetime] = field(default_factory=list)

    def to_json(self, event: Event | None) -> dict[str, Any]:
        after = sorted(catch_up_seconds(self.arrivals))
        delays = sorted(self.delays)
        head: dict[str, Any] = event.to_json() if event else {"event_id": None, "name": None}
        return {
            **head,
            "records": self.records,
            "created_offline": self.offline,
            "arrived_verified": self.offline_ok,
            "success_rate": round(self.offline_ok / self.offline, 4) if self.offline else 1.0,
            "delay_p50_s": round(delays[len(delays) // 2], 1) if delays else None,
            "after_return_max_s": round(after[-1], 1) if after else None,
        }


def catch_up_seconds(arrivals: Sequence[datetime]) -> list[float]:
    """For records created offline, how long after connectivity returned each one arrived.

    Connectivity "returned" when the first offline record of a wave reached the cloud; a wave
    ends where arrivals pause for more than ``OFFLINE_AFTER_S``. The result is in arrival order.
    """
    out: list[float] = []
    wave_start: datetime | None = None
    previous: datetime | None = None
    for moment in sorted(arrivals):
        if previous is None or (moment - previous).total_seconds() > OFFLINE_AFTER_S:
            wave_start = moment
        out.append((moment - (wave_start or moment)).total_seconds())
        previous = moment
    return out


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlIngestTx:
    def __init__(self, store: SqlCloudStore, conn: Any, hub: HubRecord, lane: str) -> None:
        self._s = store
        self._c = conn
        self.hub = hub
        self.lane = lane
        self.acked = 0

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._c.execute(self._s.q(sql), params)

    def lock(self) -> None:
        self._x(
            "INSERT INTO lanes (org_id, hub_id, lane) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (self.hub.org_id, self.hub.hub_id, self.lane),
        )
        row = self._x(
            "SELECT acked_through FROM lanes WHERE org_id = ? AND hub_id = ? AND lane = ?"
            + self._s.for_update,
            (self.hub.org_id, self.hub.hub_id, self.lane),
        ).fetchone()
        self.acked = int(row[0])

    def existing(self, hub_seqs: Sequence[int]) -> dict[int, tuple[str, str]]:
        out: dict[int, tuple[str, str]] = {}
        for chunk in _chunks(hub_seqs):
            marks = ",".join("?" * len(chunk))
            rows = self._x(
                "SELECT hub_seq, event_id, content_hash FROM events WHERE org_id = ? AND hub_id = ?"
                f" AND hub_seq IN ({marks})",
                (self.hub.org_id, self.hub.hub_id, *chunk),
            ).fetchall()
            out.update({int(r[0]): (str(r[1]), str(r[2])) for r in rows})
        return out

    def taken_ids(self, event_ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(event_ids):
            marks = ",".join("?" * len(chunk))
            rows = self._x(
                "SELECT event_id, hub_seq FROM events WHERE org_id = ? AND hub_id = ?"
                f" AND event_id IN ({marks})",
                (self.hub.org_id, self.hub.hub_id, *chunk),
            ).fetchall()
            out.update({str(r[0]): int(r[1]) for r in rows})
        return out

    def heads(self, series: Iterable[str]) -> dict[str, SeriesHead]:
        wanted = sorted(set(series))
        out: dict[str, SeriesHead] = {}
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            rows = self._x(
                "SELECT series, seq, hash, key_id, keys, anchor_sig FROM series_heads"
                f" WHERE org_id = ? AND hub_id = ? AND series IN ({marks})",
                (self.hub.org_id, self.hub.hub_id, *chunk),
            ).fetchall()
            for r in rows:
                out[str(r[0])] = SeriesHead(
                    str(r[0]), int(r[1]), str(r[2]), str(r[3]), json.loads(r[4]), str(r[5])
                )
        return out

    def insert(self, events: Sequence[tuple[WireEvent, str]], *, lane: str, received: str) -> None:
        if not events:
            return
        org, hub = self.hub.org_id, self.hub.hub_id
        self._s.insert_many(
            self._c,
            "events",
            EVENT_COLUMNS,
            [
                (
                    org,
                    hub,
                    e.hub_seq,
                    e.event_id,
                    lane,
                    e.type,
                    e.payload,
                    e.hlc,
                    e.schema,
                    e.created,
                    received,
                    digest,
                )
                for e, digest in events
            ],
        )

    def save_heads(self, heads: Iterable[SeriesHead]) -> None:
        for h in heads:
            self._x(
                "INSERT INTO series_heads (org_id, hub_id, series, seq, hash, key_id, keys,"
                " anchor_sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, hub_id, series)"
                " DO UPDATE SET seq = excluded.seq, hash = excluded.hash, key_id = excluded.key_id,"
                " keys = excluded.keys, anchor_sig = excluded.anchor_sig",
                (
                    self.hub.org_id,
                    self.hub.hub_id,
                    h.series,
                    h.seq,
                    h.hash,
                    h.key_id,
                    json.dumps(h.keys, sort_keys=True),
                    h.anchor_sig,
                ),
            )

    def alarm(self, alarm: Alarm, *, body: str, now: str) -> None:
        self._x(
            "INSERT INTO alarms (org_id, hub_id, hub_seq, event_id, kind, detail, body, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.hub.org_id,
                self.hub.hub_id,
                alarm.hub_seq,
                alarm.event_id,
                alarm.kind,
                alarm.detail,
                body,
                now,
            ),
        )

    def reject(self, *, hub_seq: int, kind: str, detail: str, now: str) -> None:
        self._x(
            "INSERT INTO rejects (org_id, hub_id, hub_seq, kind, detail, created)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (self.hub.org_id, self.hub.hub_id, hub_seq, kind, detail, now),
        )

    def finish(
        self, *, acked: int, duplicates: int, outbox_head: int, now: str, skew_s: int = 0
    ) -> None:
        self._x(
            "UPDATE lanes SET acked_through = ?, duplicates = duplicates + ?"
            " WHERE org_id = ? AND hub_id = ? AND lane = ? AND acked_through <= ?",
            (acked, duplicates, self.hub.org_id, self.hub.hub_id, self.lane, acked),
        )
        self._x(
            "UPDATE hubs SET outbox_head = CASE WHEN outbox_head > ? THEN outbox_head ELSE ? END,"
            " last_push = ?, skew_s = ? WHERE org_id = ? AND hub_id = ?",
            (outbox_head, outbox_head, now, skew_s, self.hub.org_id, self.hub.hub_id),
        )


class SqlCloudStore:
    """Shared implementation; subclasses define ``_write``, ``_read``, ``q`` and ``insert_many``."""

    url: str
    for_update = ""
    ingest_tx: type[SqlIngestTx] = SqlIngestTx

    # -- backend hooks -------------------------------------------------------------------------
    def _write(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def q(self, sql: str) -> str:
        return sql

    def insert_many(
        self, conn: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert rows known not to clash (checked under the lane lock)."""
        raise NotImplementedError

    def is_unique_violation(self, exc: BaseException) -> bool:
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------------------------
    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._read() as conn:
            return conn.execute(self.q(sql), params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._read() as conn:
            return list(conn.execute(self.q(sql), params).fetchall())

    # -- the port --------------------------------------------------------------------------------
    def meta_setdefault(self, key: str, value: str) -> str:
        with self._write() as conn:
            conn.execute(
                self.q(
                    "INSERT INTO cloud_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
                ),
                (key, value),
            )
            row = conn.execute(self.q("SELECT value FROM cloud_meta WHERE key = ?"), (key,))
            return str(row.fetchone()[0])

    def create_org(self, *, org_id: str, name: str, admin_token_hash: str, now: str) -> Org:
        try:
            with self._write() as conn:
                conn.execute(
                    self.q(
                        "INSERT INTO orgs (org_id, name, admin_token_hash, created) VALUES (?, ?, ?, ?)"
                    ),
                    (org_id, name, admin_token_hash, now),
                )
        except Exception as exc:
            if self.is_unique_violation(exc):
                raise Conflict(
                    f"an organisation named {name!r} already exists",
                    code="org_exists",
                    details={"field": "name", "value": name},
                ) from None
            raise
        return Org(org_id, name)

    def find_org(self, *, ref: str) -> Org:
        row = self._one("SELECT org_id, name FROM orgs WHERE org_id = ? OR name = ?", (ref, ref))
        if row is None:
            raise NotFound(
                f"no organisation {ref!r}", code="no_org", details={"field": "org", "value": ref}
            )
        return Org(str(row[0]), str(row[1]))

    def org_by_admin_token(self, *, token_hash: str) -> Org | None:
        row = self._one("SELECT org_id, name FROM orgs WHERE admin_token_hash = ?", (token_hash,))
        return None if row is None else Org(str(row[0]), str(row[1]))

    def add_enrollment(
        self, *, org_id: str, name: str, token_hash: str, expires: str, now: str
    ) -> None:
        with self._write() as conn:
            conn.execute(
                self.q(
                    "INSERT INTO enrollments (token_hash, org_id, name, expires, created)"
                    " VALUES (?, ?, ?, ?, ?)"
                ),
                (token_hash, org_id, name, expires, now),
            )

    def redeem_enrollment(
        self, *, token_hash: str, hub_id: str, key_id: str, public_key: bytes, now: str
    ) -> HubRecord:
        with self._write() as conn:
            row = conn.execute(
                self.q(
                    "SELECT org_id, name, expires, used FROM enrollments WHERE token_hash = ?"
                    + self.for_update
                ),
                (token_hash,),
            ).fetchone()
            if row is None:
                raise NotFound(
                    "unknown enrollment token", code="bad_token", details={"field": "token"}
                )
            org_id, name, expires, used = (str(row[0]), str(row[1]), str(row[2]), row[3])
            if used is not None:
                again = conn.execute(
                    self.q(
                        "SELECT org_id, hub_id, name, key_id, public_key FROM hubs"
                        " WHERE org_id = ? AND hub_id = ? AND key_id = ?"
                    ),
                    (org_id, hub_id, key_id),
                ).fetchone()
                used_by = conn.execute(
                    self.q("SELECT hub_id FROM enrollments WHERE token_hash = ?"), (token_hash,)
                ).fetchone()
                if again is not None and used_by is not None and used_by[0] == hub_id:
                    return self._hub(again)  # the same hub retrying its join after a crash
                raise Conflict(
                    "this enrollment token was already used",
                    code="token_used",
                    details={"field": "token"},
                )
            if datetime.fromisoformat(expires) < datetime.fromisoformat(now):
                raise Conflict(
                    "this enrollment token has expired",
                    code="token_expired",
                    details={"field": "token", "expires": expires},
                )
            clash = conn.execute(
                self.q("SELECT 1 FROM hubs WHERE hub_id = ? OR key_id = ?"), (hub_id, key_id)
            ).fetchone()
            if clash is not None:
                raise Conflict(
                    f"hub {hub_id} (or its key) is already joined",
                    code="hub_exists",
                    details={"field": "hub_id", "value": hub_id},
                )
            conn.execute(
                self.q(
                    "INSERT INTO hubs (org_id, hub_id, name, key_id, public_key, joined)"
                    " VALUES (?, ?, ?, ?, ?, ?)"
                ),
                (org_id, hub_id, name, key_id, public_key, now),
            )
            conn.execute(
                self.q("UPDATE enrollments SET used = ?, hub_id = ? WHERE token_hash = ?"),
                (now, hub_id, token_hash),
            )
        return HubRecord(org_id, hub_id, name, key_id, public_key)

    def _hub(self, row: Any) -> HubRecord:
        return HubRecord(str(row[0]), str(row[1]), str(row[2]), str(row[3]), bytes(row[4]))

    def hub_by_key(self, *, key_id: str) -> HubRecord | None:
        row = self._one(
            "SELECT org_id, hub_id, name, key_id, public_key FROM hubs WHERE key_id = ?", (key_id,)
        )
        return None if row is None else self._hub(row)

    def find_hub(self, *, ref: str, org_id: str | None = None) -> HubRecord:
        sql = "SELECT org_id, hub_id, name, key_id, public_key FROM hubs WHERE (hub_id = ? OR name = ?)"
        params: tuple[Any, ...] = (ref, ref)
        if org_id is not None:
            sql += " AND org_id = ?"
            params += (org_id,)
        rows = self._all(sql + " ORDER BY joined", params)
        if not rows:
            raise NotFound(
                f"no hub {ref!r}", code="no_hub_in_cloud", details={"field": "hub", "value": ref}
            )
        if len(rows) > 1:
            raise Conflict(
                f"{len(rows)} hubs are named {ref!r}: use the hub id",
                code="ambiguous_hub",
                details={"field": "hub", "value": ref},
            )
        return self._hub(rows[0])

    def remember_nonce(self, *, hub_id: str, nonce: str, now_s: int, keep_s: int) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                self.q(
                    "INSERT INTO nonces (hub_id, nonce, seen_s) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
                ),
                (hub_id, nonce, now_s),
            )
            fresh = bool(cur.rowcount == 1)
            if fresh and now_s % 97 == 0:  # prune now and then, not on every request
                conn.execute(self.q("DELETE FROM nonces WHERE seen_s < ?"), (now_s - keep_s,))
            return fresh

    @contextmanager
    def ingest(self, *, hub: HubRecord, lane: str) -> Iterator[IngestTx]:
        with self._write() as conn:
            tx = self.ingest_tx(self, conn, hub, lane)
            tx.lock()
            yield tx

    def acked(self, *, hub: HubRecord) -> dict[str, int]:
        rows = self._all(
            "SELECT lane, acked_through FROM lanes WHERE org_id = ? AND hub_id = ?",
            (hub.org_id, hub.hub_id),
        )
        out = dict.fromkeys(LANES, 0)
        out.update({str(r[0]): int(r[1]) for r in rows})
        return out

    def anchors(self, *, hub: HubRecord) -> list[SeriesHead]:
        rows = self._all(
            "SELECT series, seq, hash, key_id, keys, anchor_sig FROM series_heads"
            " WHERE org_id = ? AND hub_id = ? ORDER BY series",
            (hub.org_id, hub.hub_id),
        )
        return [
            SeriesHead(str(r[0]), int(r[1]), str(r[2]), str(r[3]), json.loads(r[4]), str(r[5]))
            for r in rows
        ]

    def events(self, *, hub: HubRecord, after: int = 0, limit: int = 1000) -> list[StoredEvent]:
        rows = self._all(
            "SELECT hub_seq, event_id, lane, type, payload, created, received FROM events"
            " WHERE org_id = ? AND hub_id = ? AND hub_seq > ? ORDER BY hub_seq LIMIT ?",
            (hub.org_id, hub.hub_id, after, limit),
        )
        return [StoredEvent(int(r[0]), *(str(v) for v in r[1:])) for r in rows]

    def publish_config(self, *, org_id: str, kind: str, body: str, now: str) -> int:
        with self._write() as conn:
            row = conn.execute(
                self.q(
                    "INSERT INTO config (org_id, kind, body, created) VALUES (?, ?, ?, ?)"
                    " RETURNING cursor"
                ),
                (org_id, kind, body, now),
            ).fetchone()
            return int(row[0])

    def config_after(self, *, org_id: str, after: int, limit: int) -> list[ConfigChange]:
        rows = self._all(
            "SELECT cursor, kind, body FROM config WHERE org_id = ? AND cursor > ?"
            " ORDER BY cursor LIMIT ?",
            (org_id, after, limit),
        )
        return [ConfigChange(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def audit(
        self, *, org_id: str | None, hub_id: str | None, kind: str, detail: str, now: str
    ) -> None:
        with self._write() as conn:
            conn.execute(
                self.q(
                    "INSERT INTO audit (org_id, hub_id, kind, detail, created) VALUES (?, ?, ?, ?, ?)"
                ),
                (org_id, hub_id, kind, detail[:2000], now),
            )

    def audit_log(self, *, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT org_id, hub_id, kind, detail, created FROM audit ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        keys = ("org_id", "hub_id", "kind", "detail", "created")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def _hub_events(self, key: tuple[str, str]) -> list[Event]:
        """The hub's events, from the ``event.created`` records it pushed."""
        found = []
        for (payload,) in self._all(
            "SELECT payload FROM events WHERE org_id = ? AND hub_id = ? AND type = 'event.created'",
            key,
        ):
            try:
                data = json.loads(bytes(payload) if not isinstance(payload, str) else payload)
                found.append(
                    Event(
                        str(data["event_id"]),
                        str(data["name"]),
                        str(data["venue"]),
                        datetime.fromisoformat(str(data["start"]).replace("Z", "+00:00")),
                        datetime.fromisoformat(str(data["end"]).replace("Z", "+00:00")),
                        str(data["timezone"]),
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue  # a malformed event record is reported by verification, not here
        return sorted(found, key=lambda e: e.starts)

    def stats(self, *, hub: HubRecord) -> dict[str, Any]:
        key = (hub.org_id, hub.hub_id)
        by_type = {
            str(r[0]): int(r[1])
            for r in self._all(
                "SELECT type, COUNT(*) FROM events WHERE org_id = ? AND hub_id = ?"
                " GROUP BY type ORDER BY type",
                key,
            )
        }
        by_lane = {
            str(r[0]): int(r[1])
            for r in self._all(
                "SELECT lane, COUNT(*) FROM events WHERE org_id = ? AND hub_id = ? GROUP BY lane",
                key,
            )
        }
        rejects = [
            {"hub_seq": int(r[0]), "kind": str(r[1]), "detail": str(r[2])}
            for r in self._all(
                "SELECT hub_seq, kind, detail FROM rejects WHERE org_id = ? AND hub_id = ?"
                " ORDER BY hub_seq LIMIT 100",
                key,
            )
        ]
        reject_count = int(
            self._one("SELECT COUNT(*) FROM rejects WHERE org_id = ? AND hub_id = ?", key)[0]
        )
        alarms = [
            {"hub_seq": int(r[0]), "event_id": str(r[1]), "kind": str(r[2]), "detail": str(r[3])}
            for r in self._all(
                "SELECT hub_seq, event_id, kind, detail FROM alarms WHERE org_id = ? AND hub_id = ?"
                " ORDER BY id LIMIT 100",
                key,
            )
        ]
        alarm_count = int(
            self._one("SELECT COUNT(*) FROM alarms WHERE org_id = ? AND hub_id = ?", key)[0]
        )
        lanes = self._all(
            "SELECT lane, acked_through, duplicates FROM lanes WHERE org_id = ? AND hub_id = ?",
            key,
        )
        hub_row = self._one(
            "SELECT outbox_head, last_push, skew_s FROM hubs WHERE org_id = ? AND hub_id = ?", key
        )
        total = sum(by_lane.values())
        outbox_head = int(hub_row[0])
        skew = int(hub_row[2])
        offline = offline_ok = 0
        delays: list[float] = []
        arrivals: list[datetime] = []
        hub_events = self._hub_events(key)
        per_event: dict[str, _EventTally] = {}
        rejected = {
            int(r[0])
            for r in self._all(
                "SELECT DISTINCT hub_seq FROM rejects WHERE org_id = ? AND hub_id = ?", key
            )
        }
        with self._read() as conn:
            cur = conn.execute(
                self.q(
                    "SELECT hub_seq, created, received FROM events WHERE org_id = ? AND hub_id = ?"
                    " AND lane = 'money'"
                ),
                key,
            )
            for hub_seq, created, received in cur:
                try:
                    made = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
                except ValueError:
                    made = None
                window = event_for(hub_events, made) if made is not None else None
                tally = per_event.setdefault(window.event_id if window else "", _EventTally())
                tally.records += 1
                try:
                    delay = (
                        datetime.fromisoformat(str(received))
                        - datetime.fromisoformat(str(created).replace("Z", "+00:00"))
                    ).total_seconds() + skew  # skew = hub clock - cloud clock
                except ValueError:
                    continue
                if delay > OFFLINE_AFTER_S:
                    offline += 1
                    delays.append(delay)
                    arrivals.append(datetime.fromisoformat(str(received)))
                    tally.offline += 1
                    tally.delays.append(delay)
                    tally.arrivals.append(datetime.fromisoformat(str(received)))
                    if int(hub_seq) not in rejected:
                        tally.offline_ok += 1
                    if int(hub_seq) not in rejected:
                        offline_ok += 1
        missing = max(0, outbox_head - total)
        denominator = offline + missing
        delays.sort()
        after_return = sorted(catch_up_seconds(arrivals))
        return {
            "org_id": hub.org_id,
            "hub_id": hub.hub_id,
            "hub": hub.name,
            "events": total,
            "events_by_lane": by_lane,
            "events_by_type": by_type,
            "outbox_head_reported": outbox_head,
            "missing": missing,
            "last_push": hub_row[1],
            "clock_skew_s": skew,
            "lanes": {
                str(r[0]): {"acked_through": int(r[1]), "duplicates_refused": int(r[2])}
                for r in lanes
            },
            "duplicates_refused": sum(int(r[2]) for r in lanes),
            "series": [
                {"series": h.series, "head_seq": h.seq, "head_hash": h.hash, "key_id": h.key_id}
                for h in self.anchors(hub=hub)
            ],
            "verification": {
                "rejected_events": len(rejected),
                "rejects": reject_count,
                "ok": reject_count == 0,
                "first_rejects": rejects,
            },
            "alarms": alarm_count,
            "first_alarms": alarms,
            "offline_sync": {
                "created_offline": offline,
                "arrived_verified": offline_ok,
                "missing": missing,
                "success_rate": 1.0 if denominator == 0 else round(offline_ok / denominator, 4),
                "delay_p50_s": round(delays[len(delays) // 2], 1) if delays else None,
                "delay_max_s": round(delays[-1], 1) if delays else None,
                "after_return_p50_s": (
                    round(after_return[len(after_return) // 2], 1) if after_return else None
                ),
                "after_return_max_s": round(after_return[-1], 1) if after_return else None,
                "per_event": [
                    per_event[e.event_id].to_json(e) for e in hub_events if e.event_id in per_event
                ]
                + ([per_event[""].to_json(None)] if "" in per_event else []),
            },
        }
