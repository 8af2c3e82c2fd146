"""The offline sync KPI per hub and event: records made during an outage inside an event's window
are counted for that event, with how long they took to arrive after the link returned."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from microhub.bootstrap import create_hub
from microhub.services.catalog import import_catalog
from microhub.services.events import create_event
from microhub.services.sales import ItemRequest, PaymentRequest, sell
from microhub.services.sync import sync_once


class ShiftableClock:
    """The real clock, optionally read as if it were ``back`` ago (a hub selling during an
    outage earlier in the evening)."""

    def __init__(self) -> None:
        self.back = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) - self.back


def test_offline_sales_are_counted_per_event(tmp_path: Path, cloud: Any, make_joined: Any) -> None:
    """Two sales made two hours ago (offline) inside the event's window and one made now (online,
    after the event) give the event 2 offline records, all verified, arriving about two hours
    late, and leave the online one outside any event."""
    clock = ShiftableClock()
    hub = create_hub(tmp_path / "hub", clock=clock)
    try:
        with as_file(files("microhub") / "data" / "demo_catalog.csv") as path:
            import_catalog(hub, path)
        make_joined(hub, cloud)
        now = datetime.now(UTC)
        window = (now - timedelta(hours=3), now - timedelta(hours=1))
        market = create_event(
            hub,
            name="Night market",
            venue="Harbour",
            timezone="UTC",
            start=window[0].isoformat(),
            end=window[1].isoformat(),
        )
        clock.back = timedelta(hours=2)
        for _ in range(2):
            sell(hub, items=[ItemRequest("LATTE")], payments=[PaymentRequest("cash")])
        clock.back = timedelta(0)
        sell(hub, items=[ItemRequest("BAO")], payments=[PaymentRequest("cash")])
        asyncio.run(sync_once(hub))

        stats = cloud.store.stats(hub=cloud.store.find_hub(ref=hub.settings.hub_id))
        per_event = {e["event_id"]: e for e in stats["offline_sync"]["per_event"]}
        night = per_event[market.event_id]
        assert night["name"] == "Night market"
        assert (night["records"], night["created_offline"], night["arrived_verified"]) == (2, 2, 2)
        assert night["success_rate"] == 1.0
        assert night["delay_p50_s"] > 7000
        assert night["after_return_max_s"] is not None and night["after_return_max_s"] < 60
        outside = per_event[None]
        assert outside["created_offline"] == 0
        assert outside["records"] >= 1
    finally:
        hub.close()


def test_event_times_are_validated(hub: Any) -> None:
    """An event that ends before it starts, or names an unknown zone, is refused by field."""
    import pytest

    from microhub.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        create_event(hub, name="x", venue="y", start="2026-12-04T20:00", end="2026-12-04T18:00")
    assert info.value.field == "end"
    with pytest.raises(ValidationError) as info:
        create_event(
            hub,
            name="x",
            venue="y",
            start="2026-12-04T18:00",
            end="2026-12-04T20:00",
            timezone="Mars/Olympus",
        )
    assert info.value.field == "timezone"
