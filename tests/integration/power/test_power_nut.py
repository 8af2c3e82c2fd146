"""NUT source against a real upsd + dummy-ups: readings, sentinels, a UPS that stops answering."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from microhub.errors import ValidationError
from microhub.power.reading import Reading
from microhub.power.sources import SourceOptions
from microhub.power.watcher import Status, watch

FAST = SourceOptions(poll_s=0.2, timeout_s=1.0)

DISCHARGE = """\
ups.status: OB DISCHRG
battery.charge: 90
battery.runtime: 65535
battery.voltage: 25.6
ups.load: 40
ups.realpower.nominal: 600
TIMER 1
ups.status: OB DISCHRG
battery.charge: 80
battery.runtime: 1500
ups.load: 45
TIMER 1
"""


async def gather(
    url: str, *, until: Any, options: SourceOptions = FAST, limit: float = 30
) -> list[Any]:
    """Watch ``url`` and collect events until ``until(events)`` is true (or ``limit`` seconds)."""
    stop = asyncio.Event()
    events: list[Any] = []

    async def run() -> None:
        async for event in watch(url, stop=stop, options=options, initial_s=0.2, max_s=1.0):
            events.append(event)
            if until(events):
                stop.set()

    await asyncio.wait_for(run(), limit)
    return events


def readings(events: list[Any]) -> list[Reading]:
    return [e for e in events if isinstance(e, Reading)]


def test_nut_readings_and_sentinels(nut: Any) -> None:
    """Readings carry charge, load-side watts from ups.load × nominal, and drop runtime 65535."""
    server = nut(DISCHARGE)
    events = asyncio.run(
        gather(server.url, until=lambda ev: {r.soc for r in readings(ev)} >= {80.0, 90.0})
    )
    got = readings(events)
    ninety = next(r for r in got if r.soc == 90)
    assert ninety.runtime_s is None
    assert any("65535" in why for why in ninety.rejected)
    assert ninety.watts == pytest.approx(240)  # 40 % of 600 W
    assert ninety.side == "load"
    assert ninety.on_battery is True
    eighty = next(r for r in got if r.soc == 80)
    assert eighty.runtime_s == 1500


def test_nut_unknown_ups_is_a_bad_address(nut: Any) -> None:
    """Asking upsd for a UPS it does not know is a ValidationError on the source, not a retry."""
    server = nut(DISCHARGE)
    with pytest.raises(ValidationError) as info:
        asyncio.run(gather(server.url.replace("/ups", "/nope"), until=lambda ev: False, limit=10))
    assert info.value.field == "source"


def test_ups_that_stops_answering_is_retried(nut: Any) -> None:
    """When upsd freezes the watcher reports the loss with a backoff delay and recovers after."""
    server = nut(DISCHARGE)
    state = {"paused": False, "resumed": False}

    def until(events: list[Any]) -> bool:
        last = events[-1]
        if isinstance(last, Reading) and not state["paused"]:
            server.pause("upsd")
            state["paused"] = True
        if isinstance(last, Status) and last.kind == "lost" and not state["resumed"]:
            server.resume("upsd")
            state["resumed"] = True
        return state["resumed"] and isinstance(last, Reading)

    events = asyncio.run(gather(server.url, until=until))
    lost = [e for e in events if isinstance(e, Status) and e.kind == "lost"]
    assert lost, events
    assert "stopped answering" in lost[0].message or "did not accept" in lost[0].message
    assert lost[0].retry_in_s is not None and lost[0].retry_in_s > 0
    kinds = [e.kind for e in events if isinstance(e, Status)]
    assert kinds.count("receiving") >= 2  # before the freeze and after


def test_driver_gone_is_reported(nut: Any) -> None:
    """When the UPS driver dies, upsd's stale-data error becomes a 'lost' status naming it."""
    server = nut(DISCHARGE)
    state = {"killed": False}

    def until(events: list[Any]) -> bool:
        if isinstance(events[-1], Reading) and not state["killed"]:
            server.procs["driver"].kill()
            state["killed"] = True
        return any(isinstance(e, Status) and e.kind == "lost" for e in events)

    events = asyncio.run(gather(server.url, until=until, limit=40))
    lost = next(e for e in events if isinstance(e, Status) and e.kind == "lost")
    assert "not answering" in lost.message or "closed" in lost.message
