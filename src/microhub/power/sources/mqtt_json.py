"""A generic JSON payload over MQTT: ``mqtt://HOST:PORT/json/TOPIC`` (TOPIC may contain ``/``).

Each message is one reading: a JSON object with any of ``soc`` (%), ``watts`` (drawn, positive
= discharging), ``volts``, ``amps``, ``consumed_ah``, ``runtime_s``, ``load_percent``,
``status`` and ``side`` (``"battery"``, the default, or ``"load"``). Sentinels (``"---"``,
65535, …) are rejected like any other source's; a payload that is not a JSON object is a
``bad_payload`` problem.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

from microhub.errors import ValidationError
from microhub.power.reading import Reading, number, sanitize
from microhub.power.sources import (
    Problem,
    SourceEvent,
    SourceOptions,
    display_url,
    split_url,
)
from microhub.power.sources._mqtt import messages

__all__ = ["JsonSource", "reading_from_json"]

_NUMBERS = ("soc", "watts", "volts", "amps", "consumed_ah", "runtime_s", "load_percent")


def reading_from_json(payload: bytes, *, source: str, at: float) -> Reading | Problem:
    try:
        data = json.loads(payload)
    except ValueError as exc:
        return Problem("bad_payload", f"not JSON: {exc}")
    if not isinstance(data, dict):
        return Problem("bad_payload", f"expected a JSON object, got {type(data).__name__}")
    rejected = []
    values: dict[str, float | None] = {}
    for name in _NUMBERS:
        if name in data:
            values[name] = number(data[name])
            if values[name] is None and data[name] is not None:
                rejected.append(f"{name}: {data[name]!r} is not a number")
    side = data.get("side", "battery")
    if side not in ("battery", "load"):
        return Problem("bad_payload", f"side must be 'battery' or 'load', got {side!r}")
    status = data.get("status")
    return sanitize(
        Reading(
            source=source,
            at=at,
            side=side,
            status=status if isinstance(status, str) else None,
            rejected=tuple(rejected),
            **values,
        )
    )


class JsonSource:
    def __init__(self, url: str, options: SourceOptions) -> None:
        self._parts = split_url(url)
        self.url = display_url(url)
        kind, _, topic = self._parts.path.strip("/").partition("/")
        if kind != "json" or not topic:
            raise ValidationError(
                f"JSON source {self.url!r} must be mqtt://HOST:PORT/json/TOPIC",
                field="source",
                value=self.url,
            )
        self.topic = topic
        self.options = options

    async def events(self) -> AsyncIterator[SourceEvent]:
        async for _topic, payload in messages(
            self._parts, topics=[self.topic], options=self.options
        ):
            yield reading_from_json(payload, source=self.url, at=time.time())
