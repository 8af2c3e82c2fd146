"""Sync tells the vault when the cloud holds a person's consent, which starts their retention clock."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from microhub.services.consent import record_consent
from microhub.services.sync import sync_once


def _confirmed(hub_dir: Path) -> list[object]:
    conn = sqlite3.connect(hub_dir / "hub.sqlite")
    try:
        return [r[0] for r in conn.execute("SELECT confirmed FROM people ORDER BY person_id")]
    finally:
        conn.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_people_are_confirmed_once_their_consent_reached_the_cloud(
    joined: Any, hub_dir: Path
) -> None:
    """Before a sync nobody is confirmed; after the consent lane is acknowledged, the person is."""
    hub = joined.hub
    record_consent(hub, email="ada@example.org", purpose="email_receipt")
    assert _confirmed(hub_dir) == [None]
    asyncio.run(sync_once(hub))
    assert _confirmed(hub_dir)[0] is not None
