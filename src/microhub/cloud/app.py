"""The cloud web app (FastAPI on uvicorn). Thin: authenticate, call a use case, map errors.

Endpoints (all JSON; hub endpoints are signed, see ``microhub.sync.wire``):

``POST /v1/join``               redeem an enrollment token, register the hub's transport key
``POST /v1/push``               one gzip batch of one lane -> ``acked_through``, rejects, anchors
``POST /v1/acked``              the lanes' ``acked_through`` (a hub resuming after a crash)
``POST /v1/config``             configuration changes after a cursor
``POST /v1/admin/catalog``      (admin token) publish catalog rows to the org's hubs
``GET  /v1/admin/hubs/{hub}``   (admin token) a hub's stats, only within the token's org
``GET  /healthz``

Errors: 400 bad input, 401 authentication, 403 another hub's data, 404, 409, 413, 503 retry.
Every response carries ``X-Server-Time`` (unix seconds) so hubs can measure their clock skew.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from microhub.cloud.admin import hub_stats, now_iso, publish_catalog
from microhub.cloud.auth import (
    AUTH_CODES,
    authenticate_admin,
    authenticate_hub,
    check_signed,
    token_hash,
)
from microhub.cloud.identity import CloudKey
from microhub.cloud.ingest import ingest_batch
from microhub.cloud.store import CloudStore
from microhub.crypto.signing import key_id_for
from microhub.domain.catalog import CatalogItem
from microhub.domain.verify import PublicKey
from microhub.errors import (
    Conflict,
    MicrohubError,
    NotFound,
    StorageError,
    ValidationError,
)
from microhub.sync.wire import MAX_BATCH_BYTES, decode_push

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = MAX_BATCH_BYTES // 2  # compressed


def _status(error: MicrohubError) -> int:
    if error.code in AUTH_CODES:
        return 401
    if error.code == "wrong_hub":
        return 403
    if error.code == "too_large":
        return 413
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, StorageError):
        return 503
    if isinstance(error, ValidationError):
        return 400
    return 500


def _now_s() -> int:
    return int(time.time())


async def _body(request: Request) -> bytes:
    declared = int(request.headers.get("content-length") or 0)
    if declared > MAX_BODY_BYTES:
        raise ValidationError(
            f"request body over {MAX_BODY_BYTES} bytes",
            field="body",
            value=declared,
            code="too_large",
        )
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ValidationError(
                    f"request body over {MAX_BODY_BYTES} bytes",
                    field="body",
                    value=size,
                    code="too_large",
                )
            chunks.append(chunk)
    except ClientDisconnect:
        raise StorageError(
            "the client went away mid-request", code="client_gone", retryable=True
        ) from None
    return b"".join(chunks)


def create_app(store: CloudStore) -> FastAPI:
    """The cloud app over ``store`` (already migrated)."""
    key = CloudKey.load(store)
    app = FastAPI(title="microhub cloud", version="1", docs_url=None, redoc_url=None)
    app.state.store = store
    app.state.key = key

    @app.middleware("http")
    async def server_time(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["X-Server-Time"] = f"{time.time():.3f}"
        return response

    @app.exception_handler(MicrohubError)
    async def on_error(request: Request, error: MicrohubError) -> JSONResponse:
        status = _status(error)
        if status in (400, 401, 403, 413):
            detail = f"{request.method} {request.url.path}: {error.code}: {error.message}"
            with contextlib.suppress(MicrohubError):
                await run_in_threadpool(
                    store.audit,
                    org_id=None,
                    hub_id=None,
                    kind=error.code,
                    detail=detail,
                    now=now_iso(),
                )
        return JSONResponse({"error": error.to_dict()}, status_code=status)

    async def signed(request: Request) -> tuple[Any, bytes]:
        body = await _body(request)
        hub, _params = await run_in_threadpool(
            authenticate_hub,
            store,
            method=request.method,
            path=request.url.path,
            headers=request.headers,
            body=body,
            now_s=_now_s(),
        )
        return hub, body

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "cloud_key_id": key.key_id}

    @app.post("/v1/join")
    async def join(request: Request) -> dict[str, Any]:
        body = await _body(request)
        try:
            doc = json.loads(body)
            token, hub_id = str(doc["token"]), str(doc["hub_id"])
            public = bytes.fromhex(str(doc["public_key"]))
        except (ValueError, KeyError, TypeError):
            raise ValidationError(
                "join needs token, hub_id and public_key (hex)", field="body", code="bad_join"
            ) from None
        transport = PublicKey(key_id_for(public), "ed25519", public)
        check_signed(
            method="POST",
            path=request.url.path,
            headers=request.headers,
            body=body,
            key=transport,
            now_s=_now_s(),
        )
        hub = await run_in_threadpool(
            store.redeem_enrollment,
            token_hash=token_hash(token),
            hub_id=hub_id,
            key_id=transport.key_id,
            public_key=public,
            now=now_iso(),
        )
        return {
            "org_id": hub.org_id,
            "hub_id": hub.hub_id,
            "name": hub.name,
            "cloud_key_id": key.key_id,
            "cloud_public_key": key.public_raw.hex(),
        }

    @app.post("/v1/push")
    async def push(request: Request) -> dict[str, Any]:
        hub, body = await signed(request)
        batch = decode_push(body, encoding=request.headers.get("content-encoding", ""))
        if batch.hub_id != hub.hub_id:
            await run_in_threadpool(
                store.audit,
                org_id=hub.org_id,
                hub_id=hub.hub_id,
                kind="wrong_hub",
                detail=f"hub pushed events for hub id {batch.hub_id!r}",
                now=now_iso(),
            )
            raise MicrohubError(
                "a hub may only push its own events",
                code="wrong_hub",
                details={"field": "hub_id", "value": batch.hub_id},
            )
        result = await run_in_threadpool(
            ingest_batch, store, key, hub=hub, batch=batch, now=now_iso()
        )
        if result.gap_at is not None or result.alarms:
            await run_in_threadpool(
                store.audit,
                org_id=hub.org_id,
                hub_id=hub.hub_id,
                kind="gap" if result.gap_at is not None else "alarm",
                detail=json.dumps(
                    {"lane": batch.lane, "gap_at": result.gap_at, "alarms": result.alarms[:20]}
                ),
                now=now_iso(),
            )
        return result.to_json()

    @app.post("/v1/acked")
    async def acked(request: Request) -> dict[str, Any]:
        hub, _ = await signed(request)
        lanes = await run_in_threadpool(store.acked, hub=hub)
        return {"hub_id": hub.hub_id, "acked": lanes}

    @app.post("/v1/config")
    async def config(request: Request) -> dict[str, Any]:
        hub, body = await signed(request)
        try:
            doc = json.loads(body or b"{}")
            after = int(doc.get("after", 0))
            limit = max(1, min(int(doc.get("limit", 100)), 1000))
        except (ValueError, TypeError, AttributeError):
            raise ValidationError(
                "config needs {after: int}", field="after", code="bad_config_request"
            ) from None
        changes = await run_in_threadpool(
            store.config_after, org_id=hub.org_id, after=after, limit=limit + 1
        )
        return {
            "changes": [
                {"cursor": c.cursor, "kind": c.kind, "body": c.body} for c in changes[:limit]
            ],
            "more": len(changes) > limit,
        }

    @app.post("/v1/admin/catalog")
    async def admin_catalog(request: Request) -> dict[str, Any]:
        org = authenticate_admin(store, authorization=request.headers.get("authorization", ""))
        body = await _body(request)
        try:
            rows = json.loads(body)
            items = [
                CatalogItem(
                    sku=str(r["sku"]),
                    name=str(r["name"]),
                    price=int(r["price"]),
                    tax_rate_bp=int(r["tax_rate_bp"]),
                    category=str(r.get("category", "")),
                    tags=tuple(r.get("tags", ())),
                    stock=r.get("stock"),
                    active=bool(r.get("active", True)),
                )
                for r in rows
            ]
        except (ValueError, KeyError, TypeError):
            raise ValidationError(
                "catalog rows need sku, name, price, tax_rate_bp", field="body", code="bad_catalog"
            ) from None
        cursor = await run_in_threadpool(publish_catalog, store, org=org.org_id, items=items)
        return {"cursor": cursor, "items": len(items)}

    @app.get("/v1/admin/hubs/{hub}")
    async def admin_hub(hub: str, request: Request) -> dict[str, Any]:
        org = authenticate_admin(store, authorization=request.headers.get("authorization", ""))
        return await run_in_threadpool(hub_stats, store, hub=hub, org_id=org.org_id)

    return app
