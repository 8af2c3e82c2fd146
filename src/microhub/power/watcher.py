"""Watching a telemetry source for as long as it takes: reconnect with backoff, say what happened.

:func:`watch` yields readings and problems from the source, and a :class:`Status` whenever the
link changes: ``connecting``, ``receiving`` (first data after a (re)connect), ``lost`` (with the
reason, the attempt number and the delay before the next try). Delays grow exponentially with
full jitter (:mod:`microhub.power.backoff`) and reset once data flows again. Only a wrong
address (``ValidationError``) ends the watch; ``stop`` ends it cleanly at any point.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from microhub.power.backoff import DEFAULT_INITIAL_S, DEFAULT_MAX_S, RandomSource, delay
from microhub.power.reading import Reading
from microhub.power.sources import (
    Problem,
    SourceEvent,
    SourceOptions,
    TelemetryUnavailable,
    open_source,
)

__all__ = ["Status", "WatchEvent", "collect", "watch"]


@dataclass(frozen=True, slots=True)
class Status:
    kind: str  # connecting | receiving | lost
    source: str
    message: str
    attempt: int = 0
    retry_in_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.kind, "source": self.source, "message": self.message}
        if self.attempt:
            out["attempt"] = self.attempt
        if self.retry_in_s is not None:
            out["retry_in_s"] = round(self.retry_in_s, 2)
        return out


WatchEvent = Reading | Problem | Status


async def _next(iterator: AsyncIterator[SourceEvent], stop: asyncio.Event) -> SourceEvent | None:
    """The iterator's next item, or ``None`` once ``stop`` is set."""
    if stop.is_set():
        return None
    step = asyncio.ensure_future(iterator.__anext__())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if step in done:
        return step.result()
    step.cancel()
    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, TelemetryUnavailable):
        await step
    return None


async def watch(
    url: str,
    *,
    stop: asyncio.Event,
    options: SourceOptions | None = None,
    rng: RandomSource | None = None,
    initial_s: float = DEFAULT_INITIAL_S,
    max_s: float = DEFAULT_MAX_S,
) -> AsyncIterator[WatchEvent]:
    """Yield events from the source at ``url`` until ``stop`` is set (see the module)."""
    source = open_source(url, options=options)
    rng = rng or random.Random()
    attempt = 0
    while not stop.is_set():
        yield Status("connecting", source.url, f"connecting to {source.url}", attempt)
        iterator = source.events()
        receiving = False
        try:
            while True:
                event = await _next(iterator, stop)
                if event is None:
                    return
                if not receiving:
                    receiving = True
                    attempt = 0
                    yield Status("receiving", source.url, f"receiving from {source.url}")
                yield event
        except TelemetryUnavailable as exc:
            attempt += 1
            wait = delay(attempt, rng=rng, initial_s=initial_s, max_s=max_s)
            yield Status("lost", source.url, exc.message, attempt, wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
        except StopAsyncIteration:
            attempt += 1
            wait = delay(attempt, rng=rng, initial_s=initial_s, max_s=max_s)
            yield Status("lost", source.url, "the source ended", attempt, wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
        finally:
            with contextlib.suppress(Exception):
                await iterator.aclose()  # type: ignore[attr-defined]


async def collect(
    url: str,
    *,
    seconds: float,
    options: SourceOptions | None = None,
    rng: RandomSource | None = None,
) -> tuple[list[Reading], list[Problem | Status]]:
    """Watch ``url`` for ``seconds`` (wall clock) and return the readings and the notices."""
    stop = asyncio.Event()
    readings: list[Reading] = []
    notices: list[Problem | Status] = []
    deadline = time.monotonic() + seconds
    loop = asyncio.get_running_loop()
    timer = loop.call_later(seconds, stop.set)
    try:
        async for event in watch(url, stop=stop, options=options, rng=rng):
            if isinstance(event, Reading):
                readings.append(event)
            else:
                notices.append(event)
            if time.monotonic() >= deadline:
                break
    finally:
        timer.cancel()
    return readings, notices
