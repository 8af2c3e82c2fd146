"""Sync under real faults: a lossy proxy, SIGKILLed hubs, cut responses, cloud and PostgreSQL restarts.

After each fault the cloud must hold every outbox event exactly once with the same content, the
hub's lane cursors must never have moved backwards, and every chain must verify.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from microhub.bootstrap import open_hub
from microhub.cloud import open_store
from microhub.cloud.admin import create_org, enroll_hub
from microhub.errors import StorageError
from microhub.services.audit import verify_journal
from microhub.services.context import Hub
from microhub.services.sales import ItemRequest, PaymentRequest, sell
from microhub.services.sync import run_sync_loop, sync_once
from microhub.store import outbox
from microhub.sync import state
from microhub.sync.backoff import Backoff
from microhub.sync.faultproxy import FaultProxy

pytestmark = pytest.mark.slow


def _backlog(hub: Hub, *, sales: int, telemetry: int) -> None:
    for _ in range(sales):
        sell(hub, items=[ItemRequest("COFFEE")], payments=[PaymentRequest("cash")])
    with hub.db.write() as conn:
        for i in range(telemetry):
            outbox.append(
                conn, event_id=hub.new_event_id(), lane="telemetry", event_type="power.reading",
                payload={"watts": i, "pad": "x" * 40}, now_ms=1_700_000_000_000 + i,
                created="2026-01-01T00:00:00.000Z",
            )  # fmt: skip


def _join(hub_dir: Path, db: str, url: str) -> None:
    store = open_store(db)
    try:
        org = create_org(store, name=f"org-{os.urandom(4).hex()}")
        token = enroll_hub(store, org=org.org.org_id, name="stall").token
    finally:
        store.close()
    hub = open_hub(hub_dir)
    try:
        from microhub.services.sync import join

        asyncio.run(join(hub, cloud_url=url, token=token))
    finally:
        hub.close()


def _cursors(hub_dir: Path) -> dict[str, int]:
    hub = open_hub(hub_dir)
    try:
        with hub.db.read() as conn:
            return state.cursors(conn)
    finally:
        hub.close()


def _assert_exactly_once(hub_dir: Path, db: str) -> None:
    hub = open_hub(hub_dir)
    try:
        local = {
            (int(r[0]), r[1], bytes(r[2]).decode())
            for r in hub.db.connection.execute("SELECT hub_seq, event_id, payload FROM outbox")
        }
        hub_id = hub.settings.hub_id
        assert verify_journal(hub).ok
    finally:
        hub.close()
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT hub_seq, event_id, payload FROM events WHERE hub_id = %s", (hub_id,)
        ).fetchall()
        rejects = conn.execute("SELECT COUNT(*) FROM rejects").fetchone()[0]
        alarms = conn.execute("SELECT COUNT(*) FROM alarms").fetchone()[0]
    assert len(rows) == len({(r[0], r[1]) for r in rows})  # nothing twice
    assert {(int(r[0]), r[1], r[2]) for r in rows} == local  # everything, same content
    assert (rejects, alarms) == (0, 0)  # every chain verified in the cloud


def _pending(hub_dir: Path) -> int:
    hub = open_hub(hub_dir)
    try:
        with hub.db.read() as conn:
            return sum(int(v["pending"]) for v in state.pending(conn).values())
    finally:
        hub.close()


def _never_backwards(before: dict[str, int], after: dict[str, int]) -> None:
    for lane, value in before.items():
        assert after[lane] >= value, f"{lane} cursor moved back from {value} to {after[lane]}"


def test_hub_killed_mid_push_many_times(hub_dir: Path, cloud_proc: Any) -> None:
    """SIGKILL the syncing hub 8 times mid-drain; a final pass leaves the cloud exact."""
    proxy = FaultProxy(target_port=cloud_proc.port).start()
    try:
        proxy.delay_s = 0.2  # slow enough that every kill lands mid-drain
        _join(hub_dir, cloud_proc.db, proxy.url)
        hub = open_hub(hub_dir)
        _backlog(hub, sales=60, telemetry=4000)
        hub.close()
        previous = _cursors(hub_dir)
        rng = random.Random(4)
        killed_mid_drain = 0
        for _ in range(8):
            proc = subprocess.Popen(
                [sys.executable, "-m", "microhub", "sync", "--data", str(hub_dir),
                 "--interval", "0.2", "--max-backoff", "0.5"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(rng.uniform(0.8, 1.6))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            now = _cursors(hub_dir)
            _never_backwards(previous, now)
            previous = now
            killed_mid_drain += _pending(hub_dir) > 0
        assert killed_mid_drain >= 4, "the hub should be killed before the backlog drained"
        proxy.delay_s = 0
        hub = open_hub(hub_dir)
        try:
            report = asyncio.run(sync_once(hub))
        finally:
            hub.close()
        assert report.drained
        _never_backwards(previous, _cursors(hub_dir))
        _assert_exactly_once(hub_dir, cloud_proc.db)
    finally:
        proxy.stop()


def test_responses_cut_after_the_cloud_committed(hub_dir: Path, cloud_proc: Any) -> None:
    """When answers are lost after the cloud stored a batch, nothing is stored twice."""
    proxy = FaultProxy(target_port=cloud_proc.port).start()
    try:
        _join(hub_dir, cloud_proc.db, proxy.url)
        hub = open_hub(hub_dir)
        try:
            _backlog(hub, sales=20, telemetry=500)
            failures = 0
            for attempt in range(30):
                proxy.cut_responses = 1 if attempt % 2 == 0 and attempt < 12 else 0
                try:
                    report = asyncio.run(sync_once(hub))
                except StorageError:
                    failures += 1
                    continue
                if report.drained and attempt >= 12:
                    break
            assert failures >= 3 and proxy.cuts >= 3
        finally:
            hub.close()
        _assert_exactly_once(hub_dir, cloud_proc.db)
    finally:
        proxy.stop()


async def _drain(hub: Hub, *, timeout: float, during: Any = None) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_sync_loop(hub, stop=stop, interval=0.1, backoff=Backoff(base=0.05, cap=0.5))
    )
    deadline = time.monotonic() + timeout
    try:
        if during is not None:
            await during()
        while time.monotonic() < deadline:
            with hub.db.read() as conn:
                if sum(v["pending"] for v in state.pending(conn).values()) == 0:
                    return
            await asyncio.sleep(0.2)
        raise AssertionError("the backlog did not drain")
    finally:
        stop.set()
        await task


def test_flapping_link_with_delay(hub_dir: Path, cloud_proc: Any) -> None:
    """With the link up 0.6 s and down 0.3 s, and delayed, the backlog drains exactly once."""
    proxy = FaultProxy(target_port=cloud_proc.port).start()
    try:
        _join(hub_dir, cloud_proc.db, proxy.url)
        hub = open_hub(hub_dir)
        try:
            _backlog(hub, sales=30, telemetry=6000)
            proxy.delay_s = 0.02
            proxy.flap(up_s=0.6, down_s=0.3)
            asyncio.run(_drain(hub, timeout=120))
            proxy.steady()
            failures = hub.db.connection.execute("SELECT failures FROM sync_peer").fetchone()[0]
            assert failures >= 2, "the link should have dropped during the drain"
        finally:
            hub.close()
        _assert_exactly_once(hub_dir, cloud_proc.db)
    finally:
        proxy.stop()


def test_cloud_and_postgres_restart_during_a_drain(
    hub_dir: Path, cloud_proc: Any, private_pg: Any
) -> None:
    """Killing the cloud process and restarting PostgreSQL mid-drain loses and duplicates nothing."""
    proxy = FaultProxy(target_port=cloud_proc.port).start()
    proxy.delay_s = 0.15  # slow the drain so the faults land in the middle of it
    _join(hub_dir, cloud_proc.db, proxy.url)
    hub = open_hub(hub_dir)
    pending_at_fault: list[int] = []
    try:
        _backlog(hub, sales=30, telemetry=8000)

        async def faults() -> None:
            await asyncio.sleep(0.5)
            pending_at_fault.append(await asyncio.to_thread(_pending, hub_dir))
            await asyncio.to_thread(cloud_proc.restart)
            await asyncio.sleep(0.5)
            pending_at_fault.append(await asyncio.to_thread(_pending, hub_dir))
            await asyncio.to_thread(private_pg.restart)
            await asyncio.sleep(0.3)
            await asyncio.to_thread(cloud_proc.restart)
            proxy.delay_s = 0

        before = _cursors(hub_dir)
        asyncio.run(_drain(hub, timeout=120, during=faults))
        _never_backwards(before, _cursors(hub_dir))
    finally:
        hub.close()
        proxy.stop()
    assert all(p > 0 for p in pending_at_fault), pending_at_fault
    _assert_exactly_once(hub_dir, cloud_proc.db)
    stats = json.loads(
        subprocess.run(
            [sys.executable, "-m", "microhub", "cloud", "stats", "--hub", "stall", "--db",
             cloud_proc.db, "--json"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout
    )  # fmt: skip
    assert stats["verification"]["ok"] and stats["missing"] == 0
