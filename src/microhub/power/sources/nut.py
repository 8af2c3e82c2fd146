"""NUT (Network UPS Tools): a small asyncio client of ``upsd``'s text protocol.

We speak the protocol ourselves (``LIST VAR``, ``GET VAR``, ``LOGOUT``: a few dozen lines)
instead of using PyNUTClient, which is synchronous (blocking sockets in our event loop, or a
thread per UPS) and is not published with type hints; the protocol is stable, line-based and
documented in NUT's developer guide ("Network protocol information").

Mapping of NUT variables to a :class:`~microhub.power.reading.Reading`:

====================  ======================================================================
``battery.charge``    ``soc``
``battery.runtime``   ``runtime_s`` (65535 and 0-at-low-load are rejected by ``sanitize``)
``ups.realpower``     ``watts`` at the loads (else ``ups.load`` × ``ups.realpower.nominal``)
``battery.voltage``   ``volts``; ``battery.current`` → ``amps``; ``ups.load`` → ``load_percent``
``ups.status``        ``status`` (``OL``, ``OB DISCHRG``, ``LB``…)
====================  ======================================================================

``ERR DATA-STALE`` and ``ERR DRIVER-NOT-CONNECTED`` (the driver lost the UPS) and silence for
``timeout_s`` count as a lost link; ``ERR UNKNOWN-UPS`` is a wrong URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from microhub.errors import ValidationError
from microhub.power.reading import Reading, number, sanitize
from microhub.power.sources import (
    SourceEvent,
    SourceOptions,
    TelemetryUnavailable,
    display_url,
    split_url,
)

__all__ = ["DEFAULT_PORT", "NutClient", "NutSource", "reading_from_vars"]

DEFAULT_PORT = 3493
_LOST = {"DATA-STALE", "DRIVER-NOT-CONNECTED"}


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    out, escaped = [], False
    for ch in text:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    return "".join(out)


class NutClient:
    """One connection to ``upsd``. Every request waits at most ``timeout_s`` for its answer."""

    def __init__(self, host: str, port: int, *, timeout_s: float) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def where(self) -> str:
        return f"upsd at {self.host}:{self.port}"

    async def connect(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout_s
            )
        except TimeoutError:
            raise TelemetryUnavailable(
                f"{self.where} did not accept a connection within {self.timeout_s:g} s"
            ) from None
        except OSError as exc:
            raise TelemetryUnavailable(f"cannot connect to {self.where}: {exc}") from exc

    async def _line(self) -> str:
        assert self._reader is not None
        try:
            raw = await asyncio.wait_for(self._reader.readline(), self.timeout_s)
        except TimeoutError:
            raise TelemetryUnavailable(
                f"{self.where} stopped answering (no reply within {self.timeout_s:g} s)"
            ) from None
        except OSError as exc:
            raise TelemetryUnavailable(f"{self.where} connection failed: {exc}") from exc
        if not raw:
            raise TelemetryUnavailable(f"{self.where} closed the connection")
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def _send(self, command: str) -> None:
        if self._writer is None:
            await self.connect()
        assert self._writer is not None
        try:
            self._writer.write(command.encode() + b"\n")
            await asyncio.wait_for(self._writer.drain(), self.timeout_s)
        except (OSError, TimeoutError) as exc:
            raise TelemetryUnavailable(f"{self.where}: cannot send ({exc!r})") from exc

    def _error(self, line: str, ups: str) -> None:
        if not line.startswith("ERR "):
            return
        code = line[4:].split()[0] if line[4:].split() else "UNKNOWN"
        if code == "UNKNOWN-UPS":
            raise ValidationError(
                f"{self.where} knows no UPS named {ups!r}", field="source", value=ups
            )
        if code in _LOST:
            raise TelemetryUnavailable(f"{self.where}: UPS {ups!r} is not answering ({code})")
        raise TelemetryUnavailable(f"{self.where} refused: {line}")

    async def list_vars(self, ups: str) -> dict[str, str]:
        """``LIST VAR ups`` as a dict."""
        await self._send(f"LIST VAR {ups}")
        first = await self._line()
        self._error(first, ups)
        if first != f"BEGIN LIST VAR {ups}":
            raise TelemetryUnavailable(f"{self.where}: unexpected answer {first!r}")
        values: dict[str, str] = {}
        prefix = f"VAR {ups} "
        while True:
            line = await self._line()
            if line == f"END LIST VAR {ups}":
                return values
            self._error(line, ups)
            if line.startswith(prefix):
                name, _, value = line[len(prefix) :].partition(" ")
                values[name] = _unquote(value)

    async def get_var(self, ups: str, name: str) -> str:
        await self._send(f"GET VAR {ups} {name}")
        line = await self._line()
        self._error(line, ups)
        prefix = f"VAR {ups} {name} "
        if not line.startswith(prefix):
            raise TelemetryUnavailable(f"{self.where}: unexpected answer {line!r}")
        return _unquote(line[len(prefix) :])

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        with contextlib.suppress(OSError, TimeoutError):
            writer.write(b"LOGOUT\n")
            await asyncio.wait_for(writer.drain(), 1.0)
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


def reading_from_vars(values: dict[str, str], *, source: str, at: float) -> Reading:
    """A sanitized reading from NUT variables (see the module's table)."""
    watts = number(values.get("ups.realpower"))
    load = number(values.get("ups.load"))
    if watts is None and load is not None:
        nominal = number(values.get("ups.realpower.nominal"))
        if nominal is not None:
            watts = load / 100.0 * nominal
    status = values.get("ups.status")
    return sanitize(
        Reading(
            source=source,
            at=at,
            soc=number(values.get("battery.charge")),
            watts=watts,
            side="load",
            volts=number(values.get("battery.voltage")),
            amps=number(values.get("battery.current")),
            runtime_s=number(values.get("battery.runtime")),
            load_percent=load,
            status=status,
        )
    )


class NutSource:
    """Polls ``LIST VAR`` every ``poll_s`` seconds."""

    def __init__(self, url: str, options: SourceOptions) -> None:
        parts = split_url(url)
        self.url = display_url(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or DEFAULT_PORT
        self.ups = parts.path.strip("/")
        if not self.ups or "/" in self.ups:
            raise ValidationError(
                f"NUT source {self.url!r} must name one UPS: nut://HOST:PORT/UPSNAME",
                field="source",
                value=self.url,
            )
        self.options = options

    async def events(self) -> AsyncIterator[SourceEvent]:
        client = NutClient(self.host, self.port, timeout_s=self.options.timeout_s)
        try:
            await client.connect()
            while True:
                values = await client.list_vars(self.ups)
                yield reading_from_vars(values, source=self.url, at=time.time())
                await asyncio.sleep(self.options.poll_s)
        finally:
            await client.close()
