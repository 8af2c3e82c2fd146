"""Every telemetry source keeps the port's rules: an unreachable source raises the retryable
TelemetryUnavailable (never hangs, never another error), and the URL shown hides passwords."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from microhub.power.sources import SourceOptions, TelemetryUnavailable, open_source


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def urls(tmp_path: Path) -> list[str]:
    port = closed_port()
    return [
        f"nut://127.0.0.1:{port}/ups",
        f"mqtt://user:secret@127.0.0.1:{port}/venus/c0619ab1",
        f"mqtt://user:secret@127.0.0.1:{port}/json/site/battery",
        f"vedirect:{tmp_path / 'no-such-tty'}",
    ]


@pytest.mark.parametrize("kind", ["nut", "venus", "json", "vedirect"])
def test_unreachable_source_is_retryable(kind: str, tmp_path: Path) -> None:
    """Connecting to a source that is not there raises TelemetryUnavailable (retryable)."""
    url = dict(zip(["nut", "venus", "json", "vedirect"], urls(tmp_path), strict=True))[kind]
    source = open_source(url, options=SourceOptions(timeout_s=2.0))
    assert "secret" not in source.url

    async def first() -> None:
        async for _ in source.events():
            return

    with pytest.raises(TelemetryUnavailable) as info:
        asyncio.run(asyncio.wait_for(first(), 10))
    assert info.value.retryable
    assert "secret" not in info.value.message
