"""Power use cases: telemetry readings, link changes and load tests become outbox events.

Every event goes to the ``telemetry`` lane, so a telemetry backlog never delays sales, and is
written inside ``hub.db.write()`` (one transaction per event). Event types:

* ``power.reading.recorded`` — one sanitized reading (rejected sentinels listed, never stored
  as values);
* ``power.source.changed`` — the watcher lost or regained its source (with the reason);
* ``power.loadtest.recorded`` — a load test's measured versus expected draw and runtime.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from microhub.power.reading import Reading
from microhub.power.sources import SourceOptions
from microhub.power.watcher import Status, watch
from microhub.services.context import Hub
from microhub.store import outbox

__all__ = [
    "DEFAULT_MIN_INTERVAL_S",
    "record_loadtest",
    "record_reading",
    "record_source_change",
    "run_watcher",
]

DEFAULT_MIN_INTERVAL_S = 10.0
LANE = "telemetry"


def _append(hub: Hub, event_type: str, payload: Mapping[str, Any]) -> outbox.OutboxEvent:
    now = hub.clock.now()
    with hub.db.write() as conn:
        return outbox.append(
            conn,
            event_id=hub.new_event_id(),
            lane=LANE,
            event_type=event_type,
            payload=dict(payload),
            now_ms=int(now.timestamp() * 1000),
            created=now.isoformat(),
        )


def record_reading(hub: Hub, *, reading: Reading) -> outbox.OutboxEvent:
    """Store one reading as a ``power.reading.recorded`` telemetry event."""
    return _append(hub, "power.reading.recorded", reading.to_json())


def record_source_change(hub: Hub, *, status: Status) -> outbox.OutboxEvent:
    """Store a lost or regained source as a ``power.source.changed`` telemetry event."""
    return _append(hub, "power.source.changed", status.to_json())


def record_loadtest(hub: Hub, *, result: Mapping[str, Any]) -> outbox.OutboxEvent:
    """Store a load test's summary as a ``power.loadtest.recorded`` telemetry event."""
    return _append(hub, "power.loadtest.recorded", result)


async def run_watcher(
    hub: Hub,
    *,
    source_url: str,
    stop: asyncio.Event,
    min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
    options: SourceOptions | None = None,
) -> None:
    """Watch ``source_url`` until ``stop`` is set and record readings as telemetry events.

    At most one reading per ``min_interval_s`` is stored (sources like VE.Direct send one a
    second); every lost link and every recovery is stored. Reconnects with backoff forever;
    only a wrong URL (``ValidationError``) ends it early. Database writes run in a worker
    thread so the server's event loop is never blocked.
    """
    last_stored: float | None = None
    async for event in watch(source_url, stop=stop, options=options):
        if isinstance(event, Reading):
            if last_stored is None or event.at - last_stored >= min_interval_s:
                last_stored = event.at
                await asyncio.to_thread(record_reading, hub, reading=event)
        elif isinstance(event, Status) and event.kind in ("lost", "receiving"):
            await asyncio.to_thread(record_source_change, hub, status=event)
