"""One sync pass: catch up with the cloud's acknowledgements, push every lane, pull configuration.

* **Lanes**: before every batch the pusher picks the first lane in ``money > consent > content >
  telemetry`` that has anything pending, so a telemetry backlog never delays a sale.
* **Streaming**: a batch is read from a fresh read-only snapshot with ``LIMIT`` (at most
  :data:`MAX_BATCH` events or :data:`MAX_BATCH_RAW_BYTES`), never the whole backlog.
* **Adaptive batches**: the size doubles after a quick answer and halves after a slow one, or
  once when the cloud becomes unreachable (not on every retry of an outage).
* **Resume**: lane cursors are stored after each acknowledged batch (only forward); each pass
  first asks the cloud what it holds, so a response cut after the cloud committed costs nothing.
* **Pull**: each configuration change is applied in the same transaction that stores its cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from microhub.clock import Clock
from microhub.domain.catalog import CatalogItem
from microhub.errors import Conflict, MicrohubError
from microhub.store import catalog as catalog_store
from microhub.store.sqlite import Database
from microhub.sync import state
from microhub.sync.client import CloudClient
from microhub.sync.wire import LANES, WireEvent, encode_push

__all__ = ["MAX_BATCH", "MIN_BATCH", "SyncEngine", "SyncReport"]

MIN_BATCH = 16
START_BATCH = 100
MAX_BATCH = 5000
MAX_BATCH_RAW_BYTES = 4 * 1024 * 1024
FAST_S = 0.5  # an answer quicker than this doubles the batch
SLOW_S = 2.0  # one slower than this halves it (a busy cloud gets smaller pushes)


@dataclass(frozen=True, slots=True)
class _Prepared:
    lane: str
    body: bytes
    count: int
    cursor: int  # lane_prev of the first event
    last: int  # hub_seq of the last event


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(slots=True)
class SyncReport:
    pushed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LANES, 0))
    acked: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    bytes_sent: int = 0
    duplicates: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    alarms: int = 0
    config_applied: int = 0
    drained: bool = False
    clock_offset_ms: int = 0
    money_drained_at_batch: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "drained": self.drained,
            "pushed": self.pushed,
            "acked": self.acked,
            "batches": self.batches,
            "bytes_sent": self.bytes_sent,
            "duplicates": self.duplicates,
            "rejects": self.rejects[:100],
            "alarms": self.alarms,
            "config_applied": self.config_applied,
            "clock_offset_ms": self.clock_offset_ms,
        }


class SyncEngine:
    """Sync state for one hub database; keep one per process (it remembers the batch size)."""

    def __init__(
        self,
        *,
        db: Database,
        hub_id: str,
        key_dir: Path,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.db = db
        self.hub_id = hub_id
        self.key_dir = key_dir
        self.clock = clock
        self.transport = transport
        self.timeout = timeout
        self.batch = START_BATCH
        self._failing = False

    def _client(self, peer: state.Peer) -> CloudClient:
        return CloudClient(
            base_url=peer.cloud_url,
            key_dir=self.key_dir,
            key_id=peer.transport_key,
            clock=self.clock,
            offset_ms=peer.clock_offset_ms,
            transport=self.transport,
            timeout=self.timeout,
        )

    def _record_attempt(self, error: MicrohubError | None, offset_ms: int | None) -> None:
        now = _now()
        with self.db.write() as conn:
            if error is None:
                conn.execute(
                    "UPDATE sync_peer SET attempts = attempts + 1, last_attempt = ?,"
                    " last_success = ?, last_error = NULL WHERE id = 1",
                    (now, now),
                )
            else:
                conn.execute(
                    "UPDATE sync_peer SET attempts = attempts + 1, failures = failures + 1,"
                    " last_attempt = ?, last_error = ? WHERE id = 1",
                    (now, f"{error.code}: {error.message}"[:500]),
                )
            if offset_ms is not None:
                conn.execute("UPDATE sync_peer SET clock_offset_ms = ? WHERE id = 1", (offset_ms,))

    async def run_once(self) -> SyncReport:
        """One full pass. Raises ``StorageError(retryable=True)`` when the cloud is unreachable."""
        peer = state.load_peer(self.db.connection)
        assert peer is not None
        client = self._client(peer)
        report = SyncReport()
        try:
            await self._fast_forward(client)
            await self._push(client, report)
            report.config_applied = await self._pull(client, peer.config_cursor)
            report.drained = True
        except MicrohubError as error:
            if not self._failing:  # once per outage: a dead link says nothing about batch size
                self.batch = max(MIN_BATCH, self.batch // 2)
            self._failing = True
            self._record_attempt(error, client.offset_ms)
            raise
        finally:
            report.bytes_sent = client.bytes_sent
            report.clock_offset_ms = client.offset_ms
            await client.close()
        self._failing = False
        self._record_attempt(None, client.offset_ms)
        with self.db.read() as conn:
            report.acked = state.cursors(conn)
        return report

    async def _fast_forward(self, client: CloudClient) -> None:
        answer = await client.post("/v1/acked", b"{}")
        acked = answer.get("acked", {})
        with self.db.write() as conn:
            for lane in LANES:
                value = int(acked.get(lane, 0))
                if value:
                    state.move_cursor(conn, lane=lane, to=value, now=_now())

    def _next_batch(
        self, assume: tuple[str, int] | None = None
    ) -> tuple[str, list[WireEvent], int, int]:
        """The first lane with pending events, up to ``self.batch`` of them.

        ``assume=(lane, seq)`` reads as if ``lane`` were acknowledged up to ``seq`` (the batch in
        flight), so the next batch can be prepared while the cloud works on the current one.
        """
        with self.db.read() as conn:
            cursors = state.cursors(conn)
            if assume is not None:
                cursors[assume[0]] = max(cursors[assume[0]], assume[1])
            head = int(conn.execute("SELECT COALESCE(MAX(hub_seq), 0) FROM outbox").fetchone()[0])
            for lane in LANES:
                rows = conn.execute(
                    "SELECT hub_seq, event_id, type, payload, hlc, schema, created FROM outbox"
                    " WHERE lane = ? AND hub_seq > ? ORDER BY hub_seq LIMIT ?",
                    (lane, cursors[lane], self.batch),
                )
                events: list[WireEvent] = []
                previous = cursors[lane]
                size = 0
                for hub_seq, event_id, etype, payload, hlc, schema, created in rows:
                    text = bytes(payload).decode()
                    events.append(
                        WireEvent(
                            int(hub_seq), previous, event_id, etype, text, hlc, int(schema), created
                        )
                    )
                    previous = int(hub_seq)
                    size += len(text)
                    if size >= MAX_BATCH_RAW_BYTES:
                        break
                if events:
                    return lane, events, head, cursors[lane]
        return "", [], head, 0

    def _next_body(self, offset_ms: int, assume: tuple[str, int] | None) -> _Prepared:
        lane, events, head, cursor = self._next_batch(assume)
        if not events:
            return _Prepared(lane, b"", 0, cursor, cursor)
        body = encode_push(
            hub_id=self.hub_id,
            lane=lane,
            outbox_head=head,
            events=events,
            clock_offset_ms=offset_ms,
        )
        return _Prepared(lane, body, len(events), cursor, events[-1].hub_seq)

    def _store_ack(self, lane: str, acked: int, answer: dict[str, Any], sent: int) -> None:
        now = _now()
        with self.db.write() as conn:
            state.move_cursor(
                conn,
                lane=lane,
                to=acked,
                now=now,
                events=int(answer.get("accepted", 0)),
                sent_bytes=sent,
                rejects=len(answer.get("rejects", [])),
                alarms=len(answer.get("alarms", [])),
            )
            for anchor in answer.get("anchors", []):
                state.save_anchor(conn, anchor, now=now)

    async def _push(self, client: CloudClient, report: SyncReport) -> None:
        # SQLite reads and gzip run in a worker thread (the hub's web server shares this loop),
        # and the next batch is prepared while the cloud stores the current one.
        ahead = asyncio.ensure_future(asyncio.to_thread(self._next_body, client.offset_ms, None))
        try:
            while True:
                batch = await ahead
                if not batch.count:
                    return
                ahead = asyncio.ensure_future(
                    asyncio.to_thread(self._next_body, client.offset_ms, (batch.lane, batch.last))
                )
                started = time.monotonic()
                answer = await client.post("/v1/push", batch.body, gzip=True)
                elapsed = time.monotonic() - started
                self._failing = False
                acked = int(answer["acked_through"])
                self._check(batch, acked, answer)
                await asyncio.to_thread(self._store_ack, batch.lane, acked, answer, len(batch.body))
                report.batches += 1
                report.pushed[batch.lane] += int(answer.get("accepted", 0))
                report.duplicates += int(answer.get("duplicates", 0))
                report.rejects.extend(answer.get("rejects", []))
                report.alarms += len(answer.get("alarms", []))
                if acked != batch.last:  # not all taken: what was read ahead may not follow
                    await ahead
                    ahead = asyncio.ensure_future(
                        asyncio.to_thread(self._next_body, client.offset_ms, None)
                    )
                if elapsed < FAST_S:
                    self.batch = min(MAX_BATCH, self.batch * 2)
                elif elapsed > SLOW_S:
                    self.batch = max(MIN_BATCH, self.batch // 2)
        finally:
            with contextlib.suppress(Exception):
                await ahead  # a read-ahead still running, or its error, is not left behind

    @staticmethod
    def _check(batch: _Prepared, acked: int, answer: dict[str, Any]) -> None:
        if acked < batch.cursor:
            raise Conflict(
                f"the cloud holds {batch.lane} events only up to {acked}, behind this hub's "
                f"cursor {batch.cursor}: it lost data (restored from an old backup?)",
                code="cloud_behind",
                details={"lane": batch.lane, "acked_through": acked, "cursor": batch.cursor},
            )
        if acked == batch.cursor and answer.get("gap_at") is not None:
            raise Conflict(
                f"the cloud refused {batch.lane} events after {acked} as a gap",
                code="sequence_gap",
                details={"lane": batch.lane, "acked_through": acked},
            )

    async def _pull(self, client: CloudClient, cursor: int) -> int:
        applied = 0
        while True:
            body = json.dumps({"after": cursor, "limit": 100}).encode()
            answer = await client.post("/v1/config", body)
            for change in answer.get("changes", []):
                with self.db.write() as conn:
                    _apply(conn, str(change["kind"]), str(change["body"]))
                    conn.execute(
                        "UPDATE sync_peer SET config_cursor = MAX(config_cursor, ?) WHERE id = 1",
                        (int(change["cursor"]),),
                    )
                cursor = max(cursor, int(change["cursor"]))
                applied += 1
            if not answer.get("more"):
                return applied


def _apply(conn: Any, kind: str, body: str) -> None:
    if kind == "catalog":
        items = [
            CatalogItem(
                sku=str(r["sku"]),
                name=str(r["name"]),
                price=int(r["price"]),
                tax_rate_bp=int(r["tax_rate_bp"]),
                category=str(r.get("category", "")),
                tags=tuple(r.get("tags", ())),
                stock=r.get("stock"),
                active=bool(r.get("active", True)),
            )
            for r in json.loads(body)
        ]
        catalog_store.upsert_items(conn, items, updated=_now())
    # Kinds this hub does not know yet (playbooks, drops) are skipped; their cursor still moves.
