"""Telemetry sources: one port, one module per kind of device, chosen by URL.

=====================================  =========================================================
``nut://HOST:PORT/UPSNAME``            NUT's ``upsd`` network protocol (:mod:`.nut`)
``vedirect:/dev/ttyUSB0``              Victron VE.Direct text protocol (:mod:`.vedirect`)
``mqtt://HOST:PORT/venus/PORTAL_ID``   Victron Venus OS MQTT (:mod:`.venus`)
``mqtt://HOST:PORT/json/TOPIC``        a generic JSON payload (:mod:`.mqtt_json`)
=====================================  =========================================================

More kinds plug in through the ``microhub.telemetry`` entry-point group: the entry's name is the
URL scheme and its value a factory ``(url: str, options: SourceOptions) -> TelemetrySource``.

Credentials may be given in the URL (``mqtt://user:pass@host/...``); :func:`display_url` strips
the password, and only that form is ever printed or stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit, urlunsplit

from microhub.errors import MicrohubError, ValidationError
from microhub.power.reading import Reading

__all__ = [
    "Problem",
    "SourceEvent",
    "SourceOptions",
    "TelemetrySource",
    "TelemetryUnavailable",
    "display_url",
    "open_source",
    "split_url",
]


class TelemetryUnavailable(MicrohubError):
    """The source cannot be reached or stopped answering. Retrying (reconnecting) can help."""

    code = "telemetry_unavailable"
    retryable = True


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with the data that did not break the link: a bad frame, a checksum error,
    an unparseable payload. ``kind`` is stable (``bad_frame``, ``checksum``, ``bad_payload``)."""

    kind: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.kind, "message": self.message}


SourceEvent = Reading | Problem


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """``poll_s``: how often polled sources (NUT) ask; ``timeout_s``: how long silence or an
    unanswered request may last before the link counts as lost; ``keepalive_s``: Venus OS
    keepalive period (the GX device stops publishing about 60 s after the last one)."""

    poll_s: float = 2.0
    timeout_s: float = 10.0
    keepalive_s: float = 25.0


class TelemetrySource(Protocol):
    """A source of readings.

    Rules:

    * ``url`` is the source's address without any password (safe to print and store).
    * ``events()`` connects and then yields readings — already passed through
      :func:`microhub.power.reading.sanitize`, so sentinels never come out — and
      :class:`Problem` notices for bad data. It does not end on its own.
    * Losing the link (refused, closed, silent for ``timeout_s``) raises
      :class:`TelemetryUnavailable`; calling ``events()`` again reconnects. The source never
      retries by itself: :mod:`microhub.power.watcher` does, with backoff.
    * A wrong address that no retry can fix (unknown UPS name, bad URL) raises
      ``ValidationError`` with ``field="source"``.
    * Readings are not replayed after a reconnect.
    """

    url: str

    def events(self) -> AsyncIterator[SourceEvent]: ...


Factory = Callable[[str, SourceOptions], TelemetrySource]


def split_url(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise ValidationError(
            f"bad source URL {display_url(url)!r}: {exc}", field="source"
        ) from exc
    return parts


def display_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


def _builtin(scheme: str, url: str) -> Factory | None:
    if scheme == "nut":
        from microhub.power.sources.nut import NutSource

        return NutSource
    if scheme == "vedirect":
        from microhub.power.sources.vedirect import VeDirectSource

        return VeDirectSource
    if scheme == "mqtt":
        kind = split_url(url).path.strip("/").split("/", 1)[0]
        if kind == "venus":
            from microhub.power.sources.venus import VenusSource

            return VenusSource
        if kind == "json":
            from microhub.power.sources.mqtt_json import JsonSource

            return JsonSource
        raise ValidationError(
            f"MQTT source {display_url(url)!r} must be mqtt://HOST:PORT/venus/PORTAL_ID "
            "or mqtt://HOST:PORT/json/TOPIC",
            field="source",
            value=display_url(url),
        )
    return None


def open_source(url: str, *, options: SourceOptions | None = None) -> TelemetrySource:
    """The source for ``url`` (built-in schemes first, then ``microhub.telemetry`` plug-ins)."""
    scheme = split_url(url).scheme
    factory = _builtin(scheme, url)
    if factory is None:
        for entry in entry_points(group="microhub.telemetry"):
            if entry.name == scheme:
                factory = entry.load()
                break
    if factory is None:
        raise ValidationError(
            f"unknown telemetry source {display_url(url)!r}: use nut://HOST:PORT/UPS, "
            "vedirect:/dev/ttyX, mqtt://HOST:PORT/venus/PORTAL_ID or mqtt://HOST:PORT/json/TOPIC",
            field="source",
            value=display_url(url),
        )
    return factory(url, options or SourceOptions())
