"""The web layer's small parts: error statuses, field names, the body limit, background tasks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from microhub.errors import Conflict, NotFound, StorageError, ValidationError
from microhub.hub.background import start_all, stop_all
from microhub.hub.errors import _field, status_for
from microhub.hub.limits import BodyLimit


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ValidationError("x", field="f", code="missing_credential"), 401),
        (ValidationError("x", field="f", code="device_revoked"), 401),
        (ValidationError("x", field="f", code="forbidden_role"), 403),
        (ValidationError("x", field="f", code="pin_locked"), 429),
        (ValidationError("x", field="f"), 422),
        (NotFound("x"), 404),
        (Conflict("x", code="gap"), 409),
        (StorageError("x", retryable=True), 503),
    ],
)
def test_errors_map_to_http_statuses(error: Exception, status: int) -> None:
    """Credential codes are 401/403/429, bad input 422, missing 404, conflicts 409, storage 503."""
    assert status_for(error) == status  # type: ignore[arg-type]


def test_validation_locations_become_dotted_field_names() -> None:
    """pydantic's ('body', 'records', 0, 'signature') reads as records[0].signature."""
    assert _field(("body", "records", 0, "signature")) == "records[0].signature"
    assert _field(("body",)) == "body"
    assert _field(("query", "number")) == "number"


async def _call(app: Any, body: bytes, chunks: int = 1, declared: bool = True) -> tuple[int, Any]:
    sent: list[dict[str, Any]] = []
    parts = [body[i::chunks] for i in range(chunks)] if chunks > 1 else [body]
    queue = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-length", str(len(body)).encode())] if declared else []
    await app({"type": "http", "method": "POST", "headers": headers}, receive, send)
    status = sent[0]["status"]
    return status, json.loads(sent[1]["body"]) if status == 413 else sent[1]["body"]


async def _echo(scope: Any, receive: Any, send: Any) -> None:
    message = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": message["body"]})


def test_body_limit_refuses_declared_and_streamed_oversize_and_passes_the_rest() -> None:
    """Bodies over the limit get 413 body_too_large, declared or chunked; smaller ones pass intact."""
    app = BodyLimit(_echo, max_bytes=10)
    assert asyncio.run(_call(app, b"0123456789")) == (200, b"0123456789")
    status, payload = asyncio.run(_call(app, b"x" * 11))
    assert (status, payload["error"]["code"], payload["error"]["field"]) == (
        413,
        "body_too_large",
        "body",
    )
    status, payload = asyncio.run(_call(app, b"y" * 30, chunks=3, declared=False))
    assert (status, payload["error"]["code"]) == (413, "body_too_large")


def test_background_tasks_start_and_stop_with_the_server() -> None:
    """Registered tasks run until the stop event is set; one that fails does not stop the others."""
    seen: list[str] = []

    async def worker(hub: Any, stop: asyncio.Event) -> None:
        seen.append("started")
        await stop.wait()
        seen.append("stopped")

    async def broken(hub: Any, stop: asyncio.Event) -> None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        stop, running = start_all(None, [worker, broken])  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        await stop_all(stop, running)

    asyncio.run(scenario())
    assert seen == ["started", "stopped"]
