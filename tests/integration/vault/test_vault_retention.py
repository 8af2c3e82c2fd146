"""The retention policy: personal fields purged after the cloud confirmed them, the media
cache trimmed, receipts kept, dry runs change nothing."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from microhub.bootstrap import open_hub
from microhub.services import audit, sales
from microhub.services import consent as consent_service
from microhub.services import retention as retention_service
from microhub.services import vault as vault_service
from microhub.vault import people

EMAILS = ["frank.ret@example.org", "gina.ret@example.org"]


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def test_retention_purges_confirmed_people_and_old_media(cli: Any, hub_dir: Path) -> None:
    """retention run --dry-run lists; retention run crypto-shreds people confirmed more than
    72 h ago (not the unconfirmed one), deletes old cache files, and keeps every receipt."""
    start = datetime.now(UTC) - timedelta(hours=100)
    hub = open_hub(hub_dir, clock=FixedClock(start))
    try:
        for email in EMAILS:
            consent_service.record_consent(hub, email=email, purpose="email_receipt", name="X Y")
        pseudonym = vault_service.require_consent(hub, email=EMAILS[0], purpose="email_receipt")
        assert vault_service.mark_cloud_confirmed(hub, pseudonyms=[pseudonym]) == 1
        sales.sell(
            hub, items=[sales.ItemRequest("COFFEE", 1)], payments=[sales.PaymentRequest("cash")]
        )
    finally:
        hub.close()
    cache = hub_dir / "cache" / "media"
    cache.mkdir(parents=True)
    old, fresh = cache / "old.jpg", cache / "fresh.jpg"
    old.write_bytes(b"old")
    fresh.write_bytes(b"fresh")
    week_ago = time.time() - 8 * 86400
    os.utime(old, (week_ago, week_ago))

    dry = cli("retention", "run", "--data", str(hub_dir), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stdout
    plan = dry.json()
    assert plan["personal"]["due"] == [pseudonym]
    assert plan["media"]["due"] == ["cache/media/old.jpg"]
    assert old.exists()

    done = cli("retention", "run", "--data", str(hub_dir), "--json")
    assert done.exit_code == 0
    body = done.json()
    assert body["personal"]["purged"] == [pseudonym]
    assert body["personal"]["hub_key_replaced"] is True
    assert body["receipts"]["kept"] == 2
    assert not old.exists() and fresh.exists()
    assert "frank" not in done.stdout

    hub = open_hub(hub_dir)
    try:
        assert vault_service.lookup_person(hub, email=EMAILS[0]) is None
        kept = vault_service.lookup_person(hub, email=EMAILS[1])
        assert kept is not None and kept.name == "X Y"
        assert audit.verify_journal(hub).ok
        # Purged means unreadable: no key row is left to open the old ciphertext with.
        conn = hub.db.connection
        row = conn.execute(
            "SELECT person_id FROM people WHERE pseudonym = ?", (pseudonym,)
        ).fetchone()
        assert people.person_key(conn, vault_service.hub_key(hub), row[0]) is None
    finally:
        hub.close()
    again = cli("retention", "run", "--data", str(hub_dir), "--json").json()
    assert again["personal"]["purged"] == []


def test_retention_scheduler_runs_until_stopped(hub_dir: Path) -> None:
    """run_retention purges due people on its first pass and returns when stop is set."""
    import asyncio

    start = datetime.now(UTC) - timedelta(hours=100)
    hub = open_hub(hub_dir, clock=FixedClock(start))
    try:
        pseudonym = vault_service.remember_person(hub, email=EMAILS[0])
        vault_service.mark_cloud_confirmed(hub, pseudonyms=[pseudonym])
    finally:
        hub.close()
    hub = open_hub(hub_dir)
    try:

        async def main() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(
                retention_service.run_retention(hub, stop=stop, interval=3600)
            )
            while vault_service.lookup_person(hub, email=EMAILS[0]) is not None:
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(task, timeout=60)

        asyncio.run(main())
    finally:
        hub.close()
