"""VE.Direct source through a real pseudo-terminal: frames, checksum errors, a silent device."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from microhub.power.reading import Reading
from microhub.power.sources import Problem, SourceOptions
from microhub.power.sources.vedirect import encode_block
from microhub.power.watcher import Status, watch

OPTIONS = SourceOptions(timeout_s=1.0)


def block(soc: int, watts: int) -> bytes:
    return encode_block(
        [
            ("V", "25600"),
            ("I", str(-watts * 1000 // 25)),
            ("P", str(-watts)),
            ("CE", "-1000"),
            ("SOC", str(soc * 10)),
            ("TTG", "-1"),
        ]
    )


async def drive(
    master: int, path: str, writes: list[bytes], *, until: Any, limit: float = 20
) -> list[Any]:
    """Write ``writes`` to the device end, one every 0.1 s, while watching ``vedirect:PATH``."""
    stop = asyncio.Event()
    events: list[Any] = []

    async def device() -> None:
        for chunk in writes:
            os.write(master, chunk)
            await asyncio.sleep(0.1)

    async def watcher() -> None:
        async for event in watch(
            f"vedirect:{path}", stop=stop, options=OPTIONS, initial_s=0.2, max_s=0.5
        ):
            events.append(event)
            if until(events):
                stop.set()

    writer = asyncio.ensure_future(device())
    try:
        await asyncio.wait_for(watcher(), limit)
    finally:
        writer.cancel()
    return events


def test_vedirect_frames_through_a_pty(pty_pair: tuple[int, str]) -> None:
    """Blocks written to a pty become readings; a corrupted block is a checksum problem and
    line noise a bad frame, and reading goes on after both."""
    master, path = pty_pair
    corrupt = bytearray(block(80, 150))
    corrupt[8] ^= 0x04
    garbage = b"\r\n" + b"\xff" * 30 + b"\tnoise"
    writes = [
        block(90, 100),
        bytes(corrupt),
        block(85, 120),
        garbage,
        block(85, 120),
        block(80, 150),
    ]

    def until(events: list[Any]) -> bool:
        return any(isinstance(e, Reading) and e.soc == 80 for e in events)

    events = asyncio.run(drive(master, path, writes, until=until))
    got = [e for e in events if isinstance(e, Reading)]
    assert got[0].soc == 90 and got[-1].soc == 80
    assert got[0].watts == 100 and got[0].side == "battery"
    assert got[0].runtime_s is None and any("TTG" in why for why in got[0].rejected)
    problems = [e for e in events if isinstance(e, Problem)]
    assert [p.kind for p in problems] == ["checksum", "bad_frame"]


def test_silent_device_is_lost_and_retried(pty_pair: tuple[int, str]) -> None:
    """A device that stops sending is reported lost with a retry delay, then read again."""
    master, path = pty_pair
    writes = [block(90, 100)] + [b""] * 15 + [block(85, 100)] * 10

    def until(events: list[Any]) -> bool:
        return any(isinstance(e, Reading) and e.soc == 85 for e in events)

    events = asyncio.run(drive(master, path, writes, until=until))
    lost = [e for e in events if isinstance(e, Status) and e.kind == "lost"]
    assert lost and "no valid VE.Direct block" in lost[0].message
    assert lost[0].retry_in_s is not None
