"""Victron Venus OS (GX devices) over MQTT: ``mqtt://HOST:PORT/venus/PORTAL_ID``.

Venus publishes ``N/<portal>/battery/<instance>/<path>`` with a JSON payload ``{"value": x}``,
but only while someone sends a keepalive to ``R/<portal>/keepalive`` (about every 30 s; it
stops about 60 s after the last). We send one on connecting and every ``keepalive_s``.

Paths used (battery service; positive power and current mean *charging* in Venus):
``Soc`` (%), ``Dc/0/Power`` (W), ``Dc/0/Voltage`` (V), ``Dc/0/Current`` (A),
``ConsumedAmphours`` (Ah), ``TimeToGo`` (s; ``null`` while charging or idle).

A reading is emitted on each ``Dc/0/Power`` message, with the latest of the other values.
Add ``?instance=N`` to follow one battery instance when there are several (default: the first
seen).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

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

__all__ = ["VenusSource"]

_PATHS = {
    "Soc": "soc",
    "Dc/0/Power": "watts",
    "Dc/0/Voltage": "volts",
    "Dc/0/Current": "amps",
    "ConsumedAmphours": "consumed_ah",
    "TimeToGo": "runtime_s",
}
_SIGN = {"watts": -1.0, "amps": -1.0}


class VenusSource:
    def __init__(self, url: str, options: SourceOptions) -> None:
        self._parts = split_url(url)
        self.url = display_url(url)
        segments = self._parts.path.strip("/").split("/")
        if len(segments) != 2 or segments[0] != "venus" or not segments[1]:
            raise ValidationError(
                f"Venus OS source {self.url!r} must be mqtt://HOST:PORT/venus/PORTAL_ID",
                field="source",
                value=self.url,
            )
        self.portal = segments[1]
        instance = parse_qs(self._parts.query).get("instance")
        self.instance: str | None = instance[0] if instance else None
        self.options = options

    async def events(self) -> AsyncIterator[SourceEvent]:
        latest: dict[str, float | None] = {}
        instance = self.instance
        prefix = f"N/{self.portal}/battery/"
        topics = [f"{prefix}+/{path}" for path in _PATHS]
        async for topic, payload in messages(
            self._parts,
            topics=topics,
            options=self.options,
            keepalive_topic=f"R/{self.portal}/keepalive",
        ):
            rest = topic[len(prefix) :]
            this_instance, _, path = rest.partition("/")
            if path not in _PATHS:
                continue
            if instance is None:
                instance = this_instance
            if this_instance != instance:
                continue
            try:
                decoded = json.loads(payload) if payload else {"value": None}
                raw = decoded["value"] if isinstance(decoded, dict) else decoded
            except (ValueError, KeyError) as exc:
                yield Problem("bad_payload", f"{topic}: not Venus JSON ({exc})")
                continue
            name = _PATHS[path]
            value = number(raw)
            if value is not None and name in _SIGN:
                value *= _SIGN[name]
            if name == "consumed_ah" and value is not None:
                value = abs(value)
            latest[name] = value
            if name == "watts":
                yield sanitize(
                    Reading(
                        source=self.url,
                        at=time.time(),
                        soc=latest.get("soc"),
                        watts=latest.get("watts"),
                        side="battery",
                        volts=latest.get("volts"),
                        amps=latest.get("amps"),
                        consumed_ah=latest.get("consumed_ah"),
                        runtime_s=latest.get("runtime_s"),
                    )
                )
