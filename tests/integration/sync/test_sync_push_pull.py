"""Hub ↔ cloud sync over real loopback HTTP, against the cloud on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import httpx
import pytest

from microhub.bootstrap import create_hub
from microhub.cloud.admin import publish_catalog
from microhub.cloud.app import MAX_BODY_BYTES
from microhub.cloud.server import EmbeddedCloud
from microhub.domain.catalog import CatalogItem
from microhub.errors import ValidationError
from microhub.services.audit import verify_journal
from microhub.services.catalog import import_catalog
from microhub.services.context import Hub
from microhub.services.sales import ItemRequest, PaymentRequest, sell
from microhub.services.sync import engine_for, sync_once, sync_status
from microhub.store import outbox
from microhub.sync import state
from microhub.sync.client import CloudClient
from microhub.sync.engine import MIN_BATCH
from microhub.sync.wire import WireEvent, encode_push


def _sell(hub: Hub, n: int = 1) -> None:
    for _ in range(n):
        sell(hub, items=[ItemRequest("COFFEE")], payments=[PaymentRequest("cash")])


def _telemetry(hub: Hub, n: int) -> None:
    with hub.db.write() as conn:
        for i in range(n):
            outbox.append(
                conn,
                event_id=hub.new_event_id(),
                lane="telemetry",
                event_type="power.reading",
                payload={"watts": i},
                now_ms=1_700_000_000_000 + i,
                created="2026-01-01T00:00:00.000Z",
            )


def _outbox_count(hub: Hub) -> int:
    return int(hub.db.connection.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def _client(joined: Any, hub: Hub | None = None) -> CloudClient:
    hub = hub or joined.hub
    peer = state.load_peer(hub.db.connection)
    return CloudClient(
        base_url=joined.cloud.url,
        key_dir=hub.settings.key_dir,
        key_id=peer.transport_key,
        clock=hub.clock,
    )


def test_sales_reach_the_cloud_once_verified_and_anchored(joined: Any) -> None:
    """Every outbox event arrives once, chains verify in the cloud, and a second pass sends nothing."""
    hub, cloud = joined.hub, joined.cloud
    _sell(hub, 5)
    report = asyncio.run(sync_once(hub))
    assert report.pushed["money"] == _outbox_count(hub)
    record = cloud.store.find_hub(ref=hub.settings.hub_id)
    stats = cloud.store.stats(hub=record)
    assert stats["events"] == _outbox_count(hub)
    assert stats["verification"]["ok"] and stats["alarms"] == 0
    assert stats["events_by_type"]["sale.recorded"] == 5
    anchors = hub.db.connection.execute("SELECT series, seq FROM sync_anchors").fetchall()
    assert anchors == [("HUB", 6)]
    again = asyncio.run(sync_once(hub))
    assert sum(again.pushed.values()) == 0 and again.batches == 0
    assert verify_journal(hub).ok


class Recording(httpx.AsyncBaseTransport):
    """A real HTTP transport that notes the lane of every push it carries."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lanes: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/push":
            body = await request.aread()
            self.lanes.append(json.loads(gzip.decompress(body))["lane"])
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_money_lane_is_pushed_before_telemetry(joined: Any) -> None:
    """With a telemetry backlog queued first, every money batch still goes before any telemetry."""
    hub = joined.hub
    _telemetry(hub, 100)
    _sell(hub, 3)
    transport = Recording()
    engine = engine_for(hub, transport=transport)
    engine.batch = MIN_BATCH
    report = asyncio.run(engine.run_once())
    assert transport.lanes[0] == "money"
    first_telemetry = transport.lanes.index("telemetry")
    assert "money" not in transport.lanes[first_telemetry:]
    assert (report.acked["telemetry"], report.acked["money"]) == (101, _outbox_count(hub))
    assert sync_status(hub)["pending"] == 0


def test_config_is_pulled_and_applied_with_its_cursor(joined: Any) -> None:
    """A catalog published in the cloud lands in the hub catalog together with its cursor."""
    hub, cloud = joined.hub, joined.cloud
    item = CatalogItem(sku="BAO", name="Steamed bao", price=650, tax_rate_bp=700)
    cursor = publish_catalog(cloud.store, org=joined.org.org.org_id, items=[item])
    report = asyncio.run(sync_once(hub))
    assert report.config_applied == 1
    row = hub.db.connection.execute("SELECT name, price FROM catalog WHERE sku = 'BAO'").fetchone()
    assert row == ("Steamed bao", 650)
    assert state.load_peer(hub.db.connection).config_cursor == cursor
    assert asyncio.run(sync_once(hub)).config_applied == 0


class SkewedClock:
    def __init__(self, hours: float) -> None:
        self.delta = timedelta(hours=hours)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.delta


def test_hub_with_a_skewed_clock_syncs_and_reports_the_skew(
    tmp_path: Path, cloud: EmbeddedCloud, make_joined: Any
) -> None:
    """A hub whose clock is 5 hours ahead learns the offset, syncs, and reports the skew."""
    hub = create_hub(tmp_path / "skewed", clock=SkewedClock(5))
    with as_file(files("microhub") / "data" / "demo_catalog.csv") as path:
        import_catalog(hub, path)
    try:
        make_joined(hub, cloud)
        _sell(hub, 2)
        report = asyncio.run(sync_once(hub))
        assert report.acked["money"] == _outbox_count(hub)
        assert abs(sync_status(hub)["clock_skew_s"] + 5 * 3600) < 120
        stats = cloud.store.stats(hub=cloud.store.find_hub(ref=hub.settings.hub_id))
        assert abs(stats["clock_skew_s"] - 5 * 3600) < 120
        assert stats["offline_sync"]["created_offline"] == 0  # skew is not mistaken for delay
    finally:
        hub.close()


def test_verify_finds_a_tail_cut_off_after_the_cloud_anchored_it(joined: Any) -> None:
    """Deleting the newest journal records after sync is reported as 'truncated'."""
    hub = joined.hub
    _sell(hub, 3)
    asyncio.run(sync_once(hub))
    conn = sqlite3.connect(hub.settings.database)
    conn.execute("DROP TRIGGER journal_no_delete")
    conn.execute("DELETE FROM journal WHERE series = 'HUB' AND seq >= 3")
    conn.commit()
    conn.close()
    kinds = {f.kind for f in verify_journal(hub).findings}
    assert "truncated" in kinds


def test_tampered_record_is_rejected_but_the_queue_moves(joined: Any) -> None:
    """A record altered in the outbox is a recorded reject; later events are still accepted."""
    hub, cloud = joined.hub, joined.cloud
    _sell(hub, 3)
    row = hub.db.connection.execute("SELECT payload FROM outbox WHERE hub_seq = 3").fetchone()
    payload = json.loads(row[0])
    payload["record"]["gross"] += 100
    conn = sqlite3.connect(hub.settings.database)
    conn.execute("UPDATE outbox SET payload = ? WHERE hub_seq = 3", (json.dumps(payload).encode(),))
    conn.commit()
    conn.close()
    report = asyncio.run(sync_once(hub))
    assert {r["hub_seq"] for r in report.rejects} == {3, 4}  # 4's prev no longer matches 3
    assert report.acked["money"] == _outbox_count(hub)
    stats = cloud.store.stats(hub=cloud.store.find_hub(ref=hub.settings.hub_id))
    assert stats["events"] == _outbox_count(hub)
    assert not stats["verification"]["ok"]


def test_a_hub_cannot_push_another_hubs_events(
    joined: Any, tmp_path: Path, make_joined: Any
) -> None:
    """Hub A cannot push as hub B (403), B gets none of A's org config, admins see only their org."""
    other = create_hub(tmp_path / "other")
    try:
        b = make_joined(other, joined.cloud)
        item = CatalogItem(sku="SECRET", name="Org A only", price=1, tax_rate_bp=0)
        publish_catalog(joined.cloud.store, org=joined.org.org.org_id, items=[item])
        assert asyncio.run(sync_once(other)).config_applied == 0  # org A's config stays in org A
        b_hub = joined.cloud.store.find_hub(ref=other.settings.hub_id)
        before = joined.cloud.store.events(hub=b_hub)
        event = WireEvent(99, 98, "evil", "sale.recorded", "{}", "1:0", 1, "t")
        body = encode_push(
            hub_id=other.settings.hub_id, lane="money", outbox_head=99, events=[event]
        )

        async def attack() -> None:
            client = _client(joined)
            try:
                await client.post("/v1/push", body, gzip=True)
            finally:
                await client.close()

        with pytest.raises(ValidationError) as caught:
            asyncio.run(attack())
        assert caught.value.code == "wrong_hub"
        assert joined.cloud.store.events(hub=b_hub) == before
        assert "wrong_hub" in {e["kind"] for e in joined.cloud.store.audit_log()}
        with httpx.Client(base_url=joined.cloud.url) as http:
            answer = http.get(
                f"/v1/admin/hubs/{other.settings.hub_id}",
                headers={"Authorization": f"Bearer {joined.org.admin_token}"},
            )
            assert answer.status_code == 404
            mine = http.get(
                f"/v1/admin/hubs/{joined.hub.settings.hub_id}",
                headers={"Authorization": f"Bearer {joined.org.admin_token}"},
            )
            assert mine.status_code == 200
        assert b.org.org.org_id != joined.org.org.org_id
    finally:
        other.close()


def test_replays_bad_signatures_and_corrupt_batches_change_nothing(joined: Any) -> None:
    """Replayed, unsigned, tampered and corrupt requests are refused; the honest queue moves on."""
    hub, cloud = joined.hub, joined.cloud
    _sell(hub, 2)
    record = cloud.store.find_hub(ref=hub.settings.hub_id)
    client = _client(joined)
    good = encode_push(hub_id=hub.settings.hub_id, lane="money", outbox_head=0, events=[])
    headers = client._headers("/v1/push", good)
    headers["Content-Encoding"] = "gzip"
    with httpx.Client(base_url=cloud.url) as http:
        assert http.post("/v1/push", content=good, headers=headers).status_code == 200
        replay = http.post("/v1/push", content=good, headers=headers)
        assert (replay.status_code, replay.json()["error"]["code"]) == (401, "replayed")
        tampered = http.post("/v1/push", content=good + b"x", headers=headers)
        assert tampered.json()["error"]["code"] == "digest_mismatch"
        unsigned = http.post("/v1/push", content=good)
        assert unsigned.status_code == 401
        forged = {**client._headers("/v1/push", good), "Content-Encoding": "gzip"}
        forged["Signature"] = "sync=:" + base64.b64encode(b"\0" * 64).decode() + ":"
        refused = http.post("/v1/push", content=good, headers=forged)
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "bad_signature")
        huge = b"\0" * (MAX_BODY_BYTES + 1)
        too_big = http.post("/v1/push", content=huge, headers=client._headers("/v1/push", huge))
        assert too_big.status_code == 413
        corrupt = good[: len(good) // 2]
        corrupt_headers = client._headers("/v1/push", corrupt)
        corrupt_headers["Content-Encoding"] = "gzip"
        cut = http.post("/v1/push", content=corrupt, headers=corrupt_headers)
        assert (cut.status_code, cut.json()["error"]["code"]) == (400, "bad_batch")
    asyncio.run(client.close())
    assert cloud.store.events(hub=record) == []
    audited = {entry["kind"] for entry in cloud.store.audit_log(limit=1000)}
    assert {"replayed", "digest_mismatch", "bad_signature", "bad_batch", "too_large"} <= audited
    report = asyncio.run(sync_once(hub))
    assert report.acked["money"] == _outbox_count(hub)


def test_record_with_a_forged_signature_is_a_bad_signature_reject(joined: Any) -> None:
    """An intact record whose signature was replaced is rejected as bad_signature, alone."""
    hub = joined.hub
    _sell(hub, 2)
    row = hub.db.connection.execute("SELECT payload FROM outbox WHERE hub_seq = 2").fetchone()
    payload = json.loads(row[0])
    payload["signature"] = base64.b64encode(b"\1" * 64).decode()
    conn = sqlite3.connect(hub.settings.database)
    conn.execute("UPDATE outbox SET payload = ? WHERE hub_seq = 2", (json.dumps(payload).encode(),))
    conn.commit()
    conn.close()
    report = asyncio.run(sync_once(hub))
    assert [(r["hub_seq"], r["kind"]) for r in report.rejects] == [(2, "bad_signature")]
    assert report.acked["money"] == _outbox_count(hub)


def test_join_can_be_retried_after_a_crash_but_the_token_stays_single_use(
    hub: Hub, cloud: EmbeddedCloud, tmp_path: Path
) -> None:
    """If a hub dies after the cloud accepted its join, joining again with the token works;
    another hub cannot reuse that token."""
    from microhub.cloud.admin import create_org, enroll_hub
    from microhub.errors import Conflict
    from microhub.services.sync import join

    org = create_org(cloud.store, name=f"org-{tmp_path.name}")
    token = enroll_hub(cloud.store, org=org.org.org_id, name="stall").token
    first = asyncio.run(join(hub, cloud_url=cloud.url, token=token))
    with hub.db.write() as conn:  # the crash: the cloud answered, the hub never stored it
        conn.execute("DELETE FROM sync_peer")
    again = asyncio.run(join(hub, cloud_url=cloud.url, token=token))
    assert again["transport_key"] == first["transport_key"]
    assert asyncio.run(sync_once(hub)).drained
    other = create_hub(tmp_path / "other")
    try:
        with pytest.raises(Conflict) as caught:
            asyncio.run(join(other, cloud_url=cloud.url, token=token))
        assert caught.value.code == "token_used"
    finally:
        other.close()
