"""Victron VE.Direct text protocol (BMV battery monitors, SmartShunt, MPPT chargers).

The device sends a block about once a second: fields ``\\r\\n<LABEL>\\t<VALUE>``, the last one
``\\r\\nChecksum\\t<byte>``, chosen so that the sum of every byte of the block is 0 modulo 256.
Hex-protocol messages (``:...\\n``) may be interleaved anywhere and are skipped. A block whose
checksum fails is reported as a ``checksum`` problem and dropped whole; garbage (over-long labels
or values, too many fields) is a ``bad_frame`` problem.

Fields used: ``V`` (mV), ``I`` (mA, positive = charging), ``P`` (W, positive = charging),
``CE`` (mAh consumed, negative), ``SOC`` (‰), ``TTG`` (minutes; ``-1`` = infinite). A monitor
that is not synchronised sends ``---``: those values are rejected, not passed on.

The serial port (19200 8N1, raw) is read with the event loop's ``add_reader`` on the file
descriptor: no thread and no serial library needed; a pseudo-terminal works the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from microhub.power.reading import RUNTIME_SENTINEL, Reading, number, sanitize
from microhub.power.sources import (
    Problem,
    SourceEvent,
    SourceOptions,
    TelemetryUnavailable,
    display_url,
    split_url,
)

__all__ = ["FrameParser", "VeDirectSource", "encode_block", "reading_from_frame"]

MAX_FIELDS = 40
MAX_LABEL = 16
MAX_VALUE = 40

_HEADER, _KEY, _VALUE, _CHECKSUM, _HEX = range(5)


def encode_block(fields: list[tuple[str, str]]) -> bytes:
    """A text-protocol block with a correct checksum (what a device sends; used by tests)."""
    body = b"".join(b"\r\n" + k.encode() + b"\t" + v.encode() for k, v in fields)
    body += b"\r\nChecksum\t"
    return body + bytes([(256 - sum(body) % 256) % 256])


@dataclass
class FrameParser:
    """Feed bytes, get complete, checksum-verified frames (``dict``) and problems."""

    state: int = _HEADER
    checksum: int = 0
    key: bytearray | None = None
    value: bytearray | None = None
    fields: dict[str, str] | None = None
    resume: int = _HEADER
    synced: bool = False  # a bad first block is expected when joining mid-stream

    def _reset(self, *, lost_sync: bool = False) -> None:
        if lost_sync:  # the rest of this block cannot pass: drop it without another report
            self.synced = False
        self.state, self.checksum = _HEADER, 0
        self.key, self.value, self.fields = bytearray(), bytearray(), {}

    def feed(self, data: bytes) -> list[dict[str, str] | Problem]:
        if self.fields is None:
            self._reset()
        out: list[dict[str, str] | Problem] = []
        assert self.key is not None
        assert self.value is not None
        assert self.fields is not None
        for byte in data:
            if self.state == _HEX:
                if byte == 0x0A:
                    self.state = self.resume
                continue
            if byte == 0x3A and self.state != _CHECKSUM:  # ':' starts a hex message
                self.resume, self.state = self.state, _HEX
                continue
            self.checksum = (self.checksum + byte) % 256
            if self.state == _HEADER:
                if byte == 0x0A:
                    self.state = _KEY
                    self.key = bytearray()
                elif byte != 0x0D:
                    self.state = _KEY
                    self.key = bytearray([byte])
            elif self.state == _KEY:
                if byte == 0x09:
                    if bytes(self.key) == b"Checksum":
                        self.state = _CHECKSUM
                    else:
                        self.state = _VALUE
                        self.value = bytearray()
                elif byte in (0x0D, 0x0A) or len(self.key) >= MAX_LABEL:
                    out.append(Problem("bad_frame", f"bad label {bytes(self.key)[:MAX_LABEL]!r}"))
                    self._reset(lost_sync=True)
                else:
                    self.key.append(byte)
            elif self.state == _VALUE:
                if byte == 0x0D:
                    self.fields[self.key.decode("ascii", "replace")] = self.value.decode(
                        "ascii", "replace"
                    )
                    self.state = _HEADER
                    if len(self.fields) > MAX_FIELDS:
                        out.append(Problem("bad_frame", f"more than {MAX_FIELDS} fields"))
                        self._reset(lost_sync=True)
                elif len(self.value) >= MAX_VALUE:
                    out.append(
                        Problem(
                            "bad_frame", f"value of {self.key.decode(errors='replace')} too long"
                        )
                    )
                    self._reset(lost_sync=True)
                else:
                    self.value.append(byte)
            else:  # _CHECKSUM: this byte completes the block
                if self.checksum == 0:
                    out.append(dict(self.fields))
                    self.synced = True
                elif self.synced:
                    out.append(
                        Problem(
                            "checksum",
                            f"checksum mismatch (off by {self.checksum}) in a block of "
                            f"{len(self.fields)} fields: dropped",
                        )
                    )
                self._reset()
            # the reset above may have swapped the buffers
            assert self.key is not None
            assert self.value is not None
            assert self.fields is not None
        return out


def reading_from_frame(frame: dict[str, str], *, source: str, at: float) -> Reading:
    """A sanitized reading from a verified frame (see the module's field list)."""
    rejected: list[str] = []

    def field(name: str, scale: float) -> float | None:
        if name not in frame:
            return None
        value = number(frame[name])
        if value is None:
            rejected.append(f"{name}: {frame[name]!r} (monitor not synchronised?)")
            return None
        return value * scale

    volts = field("V", 0.001)
    amps = field("I", -0.001)
    watts = field("P", -1.0)
    consumed = field("CE", -0.001)
    soc = field("SOC", 0.1)
    ttg = field("TTG", 60.0)
    if ttg is not None and ttg < 0:
        rejected.append(f"TTG: {frame['TTG']} means infinite")
        ttg = None
    if watts is None and volts is not None and amps is not None:
        watts = volts * amps
    if ttg is not None and ttg >= RUNTIME_SENTINEL * 60:
        ttg = float(RUNTIME_SENTINEL)
    return sanitize(
        Reading(
            source=source,
            at=at,
            soc=soc,
            watts=watts,
            side="battery",
            volts=volts,
            amps=amps,
            consumed_ah=consumed,
            runtime_s=ttg,
            rejected=tuple(rejected),
        )
    )


def _configure(fd: int) -> None:
    """Raw 19200 8N1, as VE.Direct specifies."""
    attrs = termios.tcgetattr(fd)
    attrs[0] = 0  # iflag
    attrs[1] = 0  # oflag
    attrs[2] = termios.CS8 | termios.CREAD | termios.CLOCAL  # cflag
    attrs[3] = 0  # lflag
    attrs[4] = attrs[5] = termios.B19200
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class VeDirectSource:
    def __init__(self, url: str, options: SourceOptions) -> None:
        self.url = display_url(url)
        self.path = split_url(url).path
        self.options = options

    async def events(self) -> AsyncIterator[SourceEvent]:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            raise TelemetryUnavailable(f"cannot open {self.path}: {exc.strerror}") from exc
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | OSError] = asyncio.Queue()

        def readable() -> None:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                return
            except OSError as exc:  # EIO when the other end of a pty closes
                loop.remove_reader(fd)
                queue.put_nowait(exc)
                return
            if not chunk:
                loop.remove_reader(fd)
                queue.put_nowait(OSError("end of file"))
                return
            queue.put_nowait(chunk)

        try:
            with contextlib.suppress(termios.error):
                _configure(fd)
            loop.add_reader(fd, readable)
            parser = FrameParser()
            last_frame = time.monotonic()
            while True:
                remaining = self.options.timeout_s - (time.monotonic() - last_frame)
                try:
                    chunk = await asyncio.wait_for(queue.get(), max(0.01, remaining))
                except TimeoutError:
                    raise TelemetryUnavailable(
                        f"{self.path}: no valid VE.Direct block for {self.options.timeout_s:g} s"
                    ) from None
                if isinstance(chunk, OSError):
                    raise TelemetryUnavailable(f"{self.path}: {chunk}") from chunk
                for item in parser.feed(chunk):
                    if isinstance(item, Problem):
                        yield item
                    else:
                        last_frame = time.monotonic()
                        yield reading_from_frame(item, source=self.url, at=time.time())
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(fd)
            os.close(fd)
