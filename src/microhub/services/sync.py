"""Sync use cases: join a cloud, sync once, sync forever in the background, report status.

``run_sync_loop(hub, stop=event)`` is what ``microhub serve`` starts: it syncs, waits
``interval`` seconds while healthy, and backs off exponentially with full jitter while the cloud
is unreachable, until ``stop`` is set. It never raises for network trouble; it survives any
crash because all its state (lane cursors, offsets) is in the hub database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

import httpx

from microhub.crypto.signing import generate_key_file
from microhub.domain.verify import PublicKey
from microhub.errors import Conflict, MicrohubError
from microhub.services.context import Hub
from microhub.services.vault import mark_cloud_confirmed
from microhub.sync import state
from microhub.sync.backoff import Backoff
from microhub.sync.client import CloudClient, public_key_of
from microhub.sync.engine import SyncEngine, SyncReport

__all__ = [
    "DEFAULT_INTERVAL_S",
    "confirm_people",
    "engine_for",
    "join",
    "run_sync_loop",
    "sync_once",
    "sync_status",
]

DEFAULT_INTERVAL_S = 5.0
log = logging.getLogger("microhub.sync")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


async def join(
    hub: Hub, *, cloud_url: str, token: str, transport: httpx.AsyncBaseTransport | None = None
) -> dict[str, Any]:
    """Register this hub with the cloud using a one-time enrollment token.

    Creates the hub's transport key (``DATA/keys/<id>.pem``), proves possession by signing the
    join request with it, and pins the cloud's anchor key. ``Conflict`` if already joined.
    Safe to run again after a crash: the key is remembered before the request is sent, and the
    cloud accepts the same token again from the same hub with the same key.
    """
    if state.load_peer(hub.db.connection, required=False) is not None:
        raise Conflict(
            "this hub has already joined a cloud", code="already_joined", details={"field": "url"}
        )
    key = _transport_key(hub)
    client = CloudClient(
        base_url=cloud_url, key_dir=hub.settings.key_dir, key_id=key.key_id, clock=hub.clock,
        transport=transport,
    )  # fmt: skip
    try:
        body = json.dumps(
            {
                "token": token,
                "hub_id": hub.settings.hub_id,
                "hub_name": hub.settings.hub_name,
                "public_key": key.raw.hex(),
            }
        ).encode()
        answer = await client.post("/v1/join", body)
    finally:
        await client.close()
    peer = state.Peer(
        cloud_url=cloud_url.rstrip("/"),
        org_id=str(answer["org_id"]),
        hub_name=str(answer["name"]),
        transport_key=key.key_id,
        cloud_key_id=str(answer["cloud_key_id"]),
        cloud_public_key=bytes.fromhex(str(answer["cloud_public_key"])),
        clock_offset_ms=client.offset_ms,
        config_cursor=0,
    )
    with hub.db.write() as conn:
        state.save_peer(conn, peer, joined=_now())
    return {
        "cloud_url": peer.cloud_url,
        "org_id": peer.org_id,
        "hub_id": hub.settings.hub_id,
        "name": peer.hub_name,
        "transport_key": key.key_id,
        "cloud_key_id": peer.cloud_key_id,
    }


def _transport_key(hub: Hub) -> PublicKey:
    """The key a join in progress already chose (after a crash), or a new one, remembered."""
    row = hub.db.connection.execute(
        "SELECT value FROM meta WHERE key = 'sync_transport_key'"
    ).fetchone()
    if row is not None and (hub.settings.key_dir / f"{row[0]}.pem").exists():
        return PublicKey(str(row[0]), "ed25519", public_key_of(hub.settings.key_dir, str(row[0])))
    key = generate_key_file(hub.settings.key_dir)
    with hub.db.write() as conn:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('sync_transport_key', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key.key_id,),
        )
    return key


def engine_for(hub: Hub, *, transport: httpx.AsyncBaseTransport | None = None) -> SyncEngine:
    return SyncEngine(
        db=hub.db,
        hub_id=hub.settings.hub_id,
        key_dir=hub.settings.key_dir,
        clock=hub.clock,
        transport=transport,
    )


async def sync_once(hub: Hub, *, engine: SyncEngine | None = None) -> SyncReport:
    """Push everything pending and pull configuration once; raises when the cloud fails."""
    state.load_peer(hub.db.connection)
    return await _pass(hub, engine or engine_for(hub))


async def _pass(hub: Hub, engine: SyncEngine) -> SyncReport:
    """One sync pass, then tell the vault whose consent records the cloud now holds."""
    before = state.cursors(hub.db.connection)["consent"]
    try:
        return await engine.run_once()
    finally:
        after = state.cursors(hub.db.connection)["consent"]
        if after > before:
            await asyncio.to_thread(confirm_people, hub, after_seq=before, through_seq=after)


def confirm_people(hub: Hub, *, after_seq: int, through_seq: int) -> int:
    """Mark the people whose consent events ``after_seq < hub_seq <= through_seq`` the cloud has
    acknowledged as confirmed, which starts their retention clock (docs/vault.md)."""
    pseudonyms = sorted(
        {
            str(json.loads(row[0])["piiPrincipalId"])
            for row in hub.db.connection.execute(
                "SELECT payload FROM outbox WHERE lane = 'consent' AND hub_seq > ?"
                " AND hub_seq <= ? AND type = 'consent.granted'",
                (after_seq, through_seq),
            )
        }
    )
    return mark_cloud_confirmed(hub, pseudonyms=pseudonyms) if pseudonyms else 0


async def run_sync_loop(
    hub: Hub,
    *,
    stop: asyncio.Event,
    interval: float = DEFAULT_INTERVAL_S,
    backoff: Backoff | None = None,
    engine: SyncEngine | None = None,
) -> None:
    """Sync until ``stop`` is set (see the module doc).

    A hub that has not joined a cloud is checked again every ``interval`` seconds, so
    ``microhub join`` while ``serve`` runs starts syncing without a restart.
    """
    if engine is None:
        while state.load_peer(hub.db.connection, required=False) is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
        engine = engine_for(hub)
    backoff = backoff or Backoff()
    while not stop.is_set():
        try:
            await _pass(hub, engine)
        except MicrohubError as error:
            wait = backoff.next_delay()
            log.warning("sync failed (%s); retrying in %.1f s", error.code, wait)
        else:
            backoff.reset()
            wait = interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)


def sync_status(hub: Hub) -> dict[str, Any]:
    """Pending per lane, oldest unsynced age, last success, attempts, failures, clock skew."""
    with hub.db.read() as conn:
        peer = state.load_peer(conn, required=False)
        if peer is None:
            return {"joined": False}
        row = conn.execute(
            "SELECT last_attempt, last_success, last_error, attempts, failures, joined"
            " FROM sync_peer WHERE id = 1"
        ).fetchone()
        lanes = state.pending(conn)
        extra = {
            r[0]: {"last_success": r[1], "bytes_sent": int(r[2]), "rejects": int(r[3]),
                   "alarms": int(r[4])}
            for r in conn.execute(
                "SELECT lane, last_success, bytes_sent, rejects, alarms FROM sync_lanes"
            )
        }  # fmt: skip
        anchors = int(conn.execute("SELECT COUNT(*) FROM sync_anchors").fetchone()[0])
    now = hub.clock.now()
    for lane, info in lanes.items():
        info.update(extra.get(lane, {}))
        oldest = info.pop("oldest")
        info["oldest_unsynced_age_s"] = (
            round((now - datetime.fromisoformat(oldest.replace("Z", "+00:00"))).total_seconds(), 1)
            if oldest
            else None
        )
    return {
        "joined": True,
        "cloud_url": peer.cloud_url,
        "org_id": peer.org_id,
        "hub_id": hub.settings.hub_id,
        "pending": sum(int(i["pending"]) for i in lanes.values()),
        "lanes": lanes,
        "last_attempt": row[0],
        "last_success": row[1],
        "last_error": row[2],
        "attempts": int(row[3]),
        "failures": int(row[4]),
        "clock_skew_s": round(peer.clock_offset_ms / 1000, 1),
        "config_cursor": peer.config_cursor,
        "anchors": anchors,
        "joined_at": row[5],
    }
