"""The hub's web app: the API under ``/api/v1/`` and the point-of-sale PWA at ``/``.

Thin, like every entry point: parse (pydantic models, field-named errors), authenticate the
device, call a service, render JSON. Every write needs a device credential (``Authorization:
Bearer``) except pairing, which needs a one-time pairing code. Business writes are in the
services; errors map to HTTP in :mod:`microhub.hub.errors`.

Endpoints are plain ``def`` functions: FastAPI runs them in its thread pool, writes serialise on
the database's single writer, and reads use one read-only SQLite connection per thread.
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from microhub import __version__
from microhub.bootstrap import open_hub
from microhub.domain.canonical import canonical, sha256_hex
from microhub.domain.journal import format_time
from microhub.errors import ValidationError
from microhub.hub.background import BackgroundTask, start_all, stop_all
from microhub.hub.errors import install_error_handlers
from microhub.hub.limits import DEFAULT_MAX_BODY_BYTES, BodyLimit
from microhub.services import devices as device_service
from microhub.services import ingest as ingest_service
from microhub.services import sales as sales_service
from microhub.services.context import Hub
from microhub.services.devices import Device
from microhub.store import catalog as catalog_store
from microhub.store import journal as journal_store
from microhub.store import outbox
from microhub.store.sqlite import connect

__all__ = ["API", "create_app"]

API = "/api/v1"
STATIC = Path(str(files("microhub.hub") / "static"))
_B64URL = r"^[A-Za-z0-9_-]{0,200}={0,2}$"
MAX_WALKIN_AGE_S = 30 * 86400


class _Readers:
    """One read-only connection per worker thread (WAL: reads never block the writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


# ---- request models ---------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PairIn(_Model):
    code: str = Field(min_length=1, max_length=20, description="The one-time pairing code.")
    alg: str = Field(pattern="^(ed25519|es256)$")
    public_key: str = Field(
        min_length=64, max_length=130, pattern="^[0-9a-f]+$", description="Raw public key, hex."
    )


class RecordIn(_Model):
    body: dict[str, Any]
    signature: str = Field(pattern=_B64URL, description="base64url signature of the summary.")
    hash: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")


class RecordsIn(_Model):
    sent_at: datetime = Field(description="The device's clock when it sent this (UTC).")
    device_head: int | None = Field(default=None, ge=0, le=2**53 - 1)
    records: list[RecordIn] = Field(max_length=ingest_service.MAX_BATCH)


class WalkinIn(_Model):
    id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    time: datetime
    count: int = Field(default=1, ge=1, le=1000)


class WalkinsIn(_Model):
    walkins: list[WalkinIn] = Field(max_length=500)


class ApprovalIn(_Model):
    manager: str = Field(min_length=1, max_length=40)
    pin: str = Field(min_length=1, max_length=16)


class RefundItemIn(_Model):
    sku: str = Field(min_length=1, max_length=64)
    qty: int = Field(ge=1, le=100_000)


class RefundIn(_Model):
    receipt: str = Field(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9]{1,12}-\d{1,12}$")
    items: list[RefundItemIn] | None = Field(default=None, max_length=500)
    terminal_ref: str | None = Field(default=None, max_length=64)
    approval: ApprovalIn | None = None


class VoidIn(_Model):
    receipt: str = Field(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9]{1,12}-\d{1,12}$")
    terminal_ref: str | None = Field(default=None, max_length=64)
    approval: ApprovalIn | None = None


class PinIn(_Model):
    pin: str = Field(min_length=4, max_length=8, pattern=r"^\d+$")


# ---- documented errors --------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable error code.")
    message: str
    field: str | None = Field(description="The offending input, e.g. records[0].body.currency.")
    retryable: bool
    model_config = ConfigDict(extra="allow")


class ErrorBody(BaseModel):
    error: ErrorDetail


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    what = {
        304: "not modified (If-None-Match matched the catalog version)",
        400: "malformed JSON or a bad pairing code",
        401: "missing, unknown or revoked device credential",
        403: "the device's role may not do this, or a wrong manager PIN",
        404: "no such receipt, sku or device",
        409: "conflicts with what is stored (different record for a seq, a gap)",
        413: "request body too large",
        422: "invalid input: see error.code and error.field",
        429: "too many wrong PINs from this device",
        503: "the database is busy: retry",
    }
    return {
        status: {"description": what[status]}
        if status == 304
        else {"model": ErrorBody, "description": what[status]}
        for status in statuses
    }


AUTHED = _errors(401, 413, 422, 503)
WRITES = _errors(400, 401, 403, 404, 409, 413, 422, 429, 503)


# ---- credentials ------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="The device credential from pairing.")


async def _device(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Device:
    # async on purpose: one indexed read, no thread-pool hop per request (the hop costs more).
    token = credentials.credentials if credentials else None
    return device_service.authenticate(
        request.app.state.hub, request.app.state.readers.get(), token
    )


def _manager(current: Annotated[Device, Depends(_device)]) -> Device:
    device_service.require_role(current, "manager")
    return current


CurrentDevice = Annotated[Device, Depends(_device)]
Manager = Annotated[Device, Depends(_manager)]


# ---- the app ----------------------------------------------------------------------------------


def _static_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _aware(moment: datetime, field: str) -> datetime:
    """``moment`` in UTC; refuses naive times and years outside 2000-9999."""
    try:
        utc = None if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not 2000 <= utc.year <= 9999:
        raise ValidationError(
            "times must be UTC with a zone, e.g. 2026-05-01T18:30:00.000Z",
            field=field,
            value=None,
            code="bad_time",
        )
    return utc


def create_app(
    data_dir: Path | None = None,
    *,
    hub: Hub | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    background: list[BackgroundTask] | None = None,
) -> FastAPI:
    """The ASGI app for the hub in ``data_dir`` (or an already open ``hub``, kept open)."""
    if (data_dir is None) == (hub is None):
        raise ValueError("give data_dir or hub")
    state: dict[str, Any] = {}
    version = _static_version()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        opened = hub or open_hub(data_dir)  # type: ignore[arg-type]
        state["hub"] = opened
        state["readers"] = _Readers(opened.settings.database)
        app.state.hub = opened
        app.state.readers = state["readers"]
        stop, running = start_all(opened, background)
        try:
            yield
        finally:
            await stop_all(stop, running)
            state["readers"].close()
            if hub is None:
                opened.close()

    app = FastAPI(
        title="microhub hub API",
        version=__version__,
        description="The hub's API for paired point-of-sale devices. See docs/hub.md.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    def the_hub() -> Hub:
        return state["hub"]  # type: ignore[no-any-return]

    def reader() -> sqlite3.Connection:
        return state["readers"].get()  # type: ignore[no-any-return]

    def hub_info(h: Hub) -> dict[str, Any]:
        s = h.settings
        return {
            "hub_id": s.hub_id,
            "name": s.hub_name,
            "currency": s.currency,
            "exponent": h.currency.exponent,
            "prices_include_tax": s.prices_include_tax,
            "timezone": s.timezone,
        }

    # -- unauthenticated ------------------------------------------------------------------------

    @app.get(f"{API}/health", tags=["hub"])
    def health() -> dict[str, Any]:
        """Liveness, no credential needed (also the benchmark's trivial baseline)."""
        return {"ok": True}

    @app.post(f"{API}/pair", tags=["devices"], responses=_errors(400, 409, 413, 422, 503))
    def pair(request: PairIn) -> dict[str, Any]:
        """Exchange a one-time pairing code for a device credential; pin the device's key."""
        h = the_hub()
        paired = device_service.pair_device(
            h, code=request.code, alg=request.alg, public_key=request.public_key
        )
        return {
            "token": paired.token,
            "device": paired.device.to_json(),
            "hub": hub_info(h),
            "server_time": format_time(h.clock.now()),
        }

    # -- reads ----------------------------------------------------------------------------------

    @app.get(f"{API}/me", tags=["devices"], responses=AUTHED)
    def me(current: CurrentDevice) -> dict[str, Any]:
        """This device, its series head on the hub, and the hub's clock."""
        h = the_hub()
        head = journal_store.head(reader(), current.series)
        return {
            "device": current.to_json(),
            "hub": hub_info(h),
            "head_seq": head.seq,
            "head_hash": head.hash,
            "server_time": format_time(h.clock.now()),
        }

    @app.get(f"{API}/catalog", tags=["catalog"], responses={**AUTHED, **_errors(304)})
    def catalog(current: CurrentDevice, request: Request) -> Response:
        """Catalog, prices, tax and payment settings, with a ``version`` for cache busting."""
        h = the_hub()
        items = [i.to_json() for i in catalog_store.list_items(reader())]
        payments = {
            name: {
                k: v
                for k, v in h.payments.settings_for(name).items()
                if k in ("enabled", "due_days", "name", "iban", "bic")
            }
            for name in h.payments.names()
        }
        content = {"hub": hub_info(h), "items": items, "payments": payments}
        version = sha256_hex(canonical(content))[:16]
        etag = f'"{version}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return JSONResponse({**content, "version": version}, headers={"ETag": etag})

    @app.get(f"{API}/receipts/{{number}}", tags=["journal"], responses={**AUTHED, **_errors(404)})
    def receipt(current: CurrentDevice, number: str) -> dict[str, Any]:
        """One journaled record by its number (``SERIES-SEQ``), with refunds made against it."""
        series, seq = sales_service.parse_receipt_number(number, field="number")
        conn = reader()
        body, _raw, signature = journal_store.get_record(conn, series, seq)
        return {
            "record": body,
            "signed": signature is not None,
            "refunds": [
                {"series": b["series"], "seq": b["seq"], "type": b["type"], "gross": b["gross"]}
                for b in journal_store.refunds_of(conn, series, seq)
            ],
        }

    @app.get(f"{API}/devices", tags=["devices"], responses={**AUTHED, **_errors(403)})
    def devices(current: Manager) -> dict[str, Any]:
        """Every device with its series head, records it has not uploaded yet, and clock skew."""
        conn = reader()
        out = []
        for d in device_service.list_devices(conn):
            head = 0
            if d.paired:
                head = journal_store.head(conn, d.series).seq
            out.append({**d.to_json(), "head_seq": head, "missing": max(0, d.device_head - head)})
        return {"devices": out}

    @app.get(f"{API}/rejects", tags=["devices"], responses={**AUTHED, **_errors(403)})
    def rejects(current: Manager) -> dict[str, Any]:
        """Business issues found in device records (journaled anyway), for the manager."""
        return {"rejects": ingest_service.list_rejects(reader())}

    @app.get(f"{API}/kpi/conversion", tags=["kpi"], responses=AUTHED)
    def conversion(current: CurrentDevice) -> dict[str, Any]:
        """Walk-ins, sales and conversion by hour (in the hub's time zone)."""
        h = the_hub()
        zone = ZoneInfo(h.settings.timezone)
        hours: dict[str, dict[str, int]] = {}
        conn = reader()

        def hour(text: str) -> str:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(zone)
            except (ValueError, OverflowError):
                return "unknown"
            return moment.strftime("%Y-%m-%dT%H:00")

        for time, count in conn.execute("SELECT time, count FROM walkins"):
            slot = hours.setdefault(hour(time), {"walkins": 0, "sales": 0})
            slot["walkins"] += count
        for (time,) in conn.execute("SELECT time FROM journal WHERE type = 'sale'"):
            slot = hours.setdefault(hour(time), {"walkins": 0, "sales": 0})
            slot["sales"] += 1
        return {
            "timezone": h.settings.timezone,
            "hours": [
                {
                    "hour": key,
                    **value,
                    "conversion": round(value["sales"] / value["walkins"], 4)
                    if value["walkins"]
                    else None,
                }
                for key, value in sorted(hours.items())
            ],
        }

    # -- writes ---------------------------------------------------------------------------------

    @app.post(f"{API}/records", tags=["journal"], response_class=JSONResponse, responses=WRITES)
    def records(current: CurrentDevice, upload: RecordsIn) -> JSONResponse:
        """Upload device-signed records in order; idempotent by (series, seq)."""
        h = the_hub()
        uploads = []
        for index, item in enumerate(upload.records):
            try:
                signature = _b64url(item.signature)
            except ValueError:
                raise ValidationError(
                    "the signature is not base64url",
                    field=f"records[{index}].signature",
                    value=None,
                    code="bad_signature",
                ) from None
            uploads.append(ingest_service.Upload(item.body, signature, item.hash))
        report = ingest_service.ingest(
            h,
            device=current,
            uploads=uploads,
            sent_at=_aware(upload.sent_at, "sent_at"),
            device_head=upload.device_head,
            reader=reader(),
        )
        return JSONResponse(report.to_json())  # plain JSON: no re-validation of the report

    @app.post(f"{API}/walkins", tags=["kpi"], responses=WRITES)
    def walkins(current: CurrentDevice, upload: WalkinsIn) -> dict[str, Any]:
        """Count visitors entering; idempotent by each walk-in's ``id``."""
        h = the_hub()
        now = h.clock.now()
        stored = 0
        with h.db.write() as conn:
            for index, item in enumerate(upload.walkins):
                moment = _aware(item.time, f"walkins[{index}].time")
                age = (now - moment).total_seconds()
                if age < -ingest_service.MAX_SKEW_S or age > MAX_WALKIN_AGE_S:
                    raise ValidationError(
                        "walk-in time must be within the last 30 days and not in the future",
                        field=f"walkins[{index}].time",
                        value=format_time(moment),
                        code="bad_time",
                    )
                cur = conn.execute(
                    "INSERT INTO walkins (walkin_id, device_id, time, count, received)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (walkin_id) DO NOTHING",
                    (item.id, current.device_id, format_time(moment), item.count, format_time(now)),
                )
                if cur.rowcount == 1:
                    stored += 1
                    outbox.append(
                        conn,
                        event_id=h.new_event_id(),
                        lane="telemetry",
                        event_type="walkin.counted",
                        payload={
                            "id": item.id,
                            "device": current.series,
                            "time": format_time(moment),
                            "count": item.count,
                        },
                        now_ms=int(now.timestamp() * 1000),
                        created=format_time(now),
                    )
        return {"stored": stored, "duplicates": len(upload.walkins) - stored}

    def _approve(current: Device, approval: ApprovalIn | None) -> Device:
        h = the_hub()
        if current.role == "manager":
            return current
        if approval is None:
            device_service.require_role(current, "manager")
        assert approval is not None
        return device_service.check_manager_pin(
            h, requester=current, manager=approval.manager, pin=approval.pin
        )

    @app.post(f"{API}/refunds", tags=["journal"], responses=WRITES)
    def refunds(current: CurrentDevice, request: RefundIn) -> dict[str, Any]:
        """Refund items of a sale on the hub's register (manager, or a manager's PIN)."""
        approver = _approve(current, request.approval)
        items: dict[str, int] | None = None
        if request.items is not None:
            items = {}
            for line in request.items:
                items[line.sku] = items.get(line.sku, 0) + line.qty
        recorded = sales_service.refund(
            the_hub(), receipt=request.receipt.upper(), items=items, ref=request.terminal_ref
        )
        device_service.record_approval(
            the_hub(),
            record=recorded.number,
            receipt=request.receipt.upper(),
            kind="refund",
            requester=current,
            approver=approver,
        )
        return {"receipt": recorded.to_json(), "approved_by": approver.name}

    @app.post(f"{API}/voids", tags=["journal"], responses=WRITES)
    def voids(current: CurrentDevice, request: VoidIn) -> dict[str, Any]:
        """Void a whole sale on the hub's register (manager, or a manager's PIN)."""
        approver = _approve(current, request.approval)
        recorded = sales_service.refund(
            the_hub(),
            receipt=request.receipt.upper(),
            items=None,
            ref=request.terminal_ref,
            record_type="void",
        )
        device_service.record_approval(
            the_hub(),
            record=recorded.number,
            receipt=request.receipt.upper(),
            kind="void",
            requester=current,
            approver=approver,
        )
        return {"receipt": recorded.to_json(), "approved_by": approver.name}

    @app.post(f"{API}/pin", tags=["devices"], responses=WRITES)
    def pin(current: Manager, request: PinIn) -> dict[str, Any]:
        """A manager sets the PIN that approves refunds on other devices."""
        device_service.set_manager_pin(the_hub(), device=current, pin=request.pin)
        return {"ok": True}

    # -- the PWA --------------------------------------------------------------------------------

    def static_file(name: str, media: str, *, cache: str = "no-cache") -> Callable[[], Response]:
        def serve() -> Response:
            return FileResponse(STATIC / name, media_type=media, headers={"Cache-Control": cache})

        return serve

    app.get("/", include_in_schema=False)(static_file("index.html", "text/html"))
    app.get("/manifest.webmanifest", include_in_schema=False)(
        static_file("manifest.webmanifest", "application/manifest+json")
    )
    sw_text = (STATIC / "sw.js").read_text(encoding="utf-8").replace("__VERSION__", version)

    @app.get("/sw.js", include_in_schema=False)
    def service_worker() -> Response:
        return Response(
            sw_text,
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.static_version = version
    return app


def _b64url(text: str) -> bytes:
    bare = text.rstrip("=")
    return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
