"""The MQTT connection shared by the Venus OS and JSON sources (aiomqtt, over paho-mqtt 2.x)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from urllib.parse import SplitResult

import aiomqtt

from microhub.power.sources import SourceOptions, TelemetryUnavailable

__all__ = ["DEFAULT_PORT", "messages"]

DEFAULT_PORT = 1883


def _as_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()


async def messages(
    parts: SplitResult,
    *,
    topics: Sequence[str],
    options: SourceOptions,
    keepalive_topic: str | None = None,
) -> AsyncIterator[tuple[str, bytes]]:
    """Connect, subscribe to ``topics`` and yield ``(topic, payload)``.

    With ``keepalive_topic``, publish an empty message there on connecting and every
    ``options.keepalive_s``. Raises :class:`TelemetryUnavailable` when the broker cannot be
    reached, drops the connection, or nothing arrives for ``options.timeout_s``.
    """
    host = parts.hostname or "127.0.0.1"
    port = parts.port or DEFAULT_PORT
    where = f"MQTT broker {host}:{port}"
    try:
        async with aiomqtt.Client(
            host,
            port=port,
            username=parts.username,
            password=parts.password,
            identifier=f"microhub-{uuid.uuid4().hex[:12]}",
            keepalive=max(5, int(options.timeout_s)),
            timeout=options.timeout_s,
        ) as client:
            for topic in topics:
                await client.subscribe(topic)
            if keepalive_topic is not None:
                await client.publish(keepalive_topic, b"")
            incoming = client.messages
            last = next_keepalive = time.monotonic()
            next_keepalive += options.keepalive_s
            while True:
                now = time.monotonic()
                wait = options.timeout_s - (now - last)
                if keepalive_topic is not None:
                    wait = min(wait, next_keepalive - now)
                try:
                    message = await asyncio.wait_for(incoming.__anext__(), max(0.01, wait))
                except TimeoutError:
                    now = time.monotonic()
                    if now - last >= options.timeout_s:
                        raise TelemetryUnavailable(
                            f"{where}: no message on {', '.join(topics)} for "
                            f"{options.timeout_s:g} s"
                        ) from None
                    if keepalive_topic is not None and now >= next_keepalive:
                        await client.publish(keepalive_topic, b"")
                        next_keepalive = now + options.keepalive_s
                    continue
                last = time.monotonic()
                yield message.topic.value, _as_bytes(message.payload)
    except aiomqtt.MqttError as exc:
        raise TelemetryUnavailable(f"{where}: {exc}") from exc
