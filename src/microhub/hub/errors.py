"""HTTP status codes for microhub errors, and the one JSON error shape every endpoint returns.

``{"error": {"code", "message", "field", "retryable", ...details}}``: ``code`` is the stable,
machine-readable code of :mod:`microhub.errors`; ``field`` names the offending input (``null``
when none does). Status codes are mapped here and nowhere else.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from microhub.errors import (
    ConfigurationError,
    Conflict,
    MicrohubError,
    NotFound,
    SigningError,
    StorageError,
    ValidationError,
)

__all__ = ["STATUS_BY_CODE", "error_response", "install_error_handlers", "status_for"]

STATUS_BY_CODE = {
    "missing_credential": 401,
    "bad_credential": 401,
    "device_revoked": 401,
    "forbidden_role": 403,
    "bad_pin": 403,
    "pin_locked": 429,
    "body_too_large": 413,
    "malformed_json": 400,
    "bad_pairing_code": 400,
}


def status_for(error: MicrohubError) -> int:
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    if isinstance(error, ValidationError):
        return 422
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, StorageError):
        return 503
    if isinstance(error, (ConfigurationError, SigningError)):
        return 500
    return 400


def _safe(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def error_response(
    status: int, code: str, message: str, *, field: str | None = None, **details: Any
) -> JSONResponse:
    body = {"code": code, "message": message, "field": field, "retryable": False}
    body.update({k: _safe(v) for k, v in details.items()})
    return JSONResponse({"error": body}, status_code=status)


def _from_error(error: MicrohubError) -> JSONResponse:
    data = {k: _safe(v) for k, v in error.to_dict().items()}
    data.setdefault("field", None)
    return JSONResponse({"error": data}, status_code=status_for(error))


def _field(loc: Any) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MicrohubError)
    async def microhub_error(_request: Request, error: MicrohubError) -> JSONResponse:
        return _from_error(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        first = problems[0] if problems else {"loc": ("body",), "msg": "invalid", "type": ""}
        if first.get("type") == "json_invalid":
            return error_response(
                400,
                "malformed_json",
                f"the request body is not valid JSON: {first.get('msg')}",
                field="body",
            )
        field = _field(first.get("loc", ("body",)))
        return error_response(
            422,
            "invalid",
            f"{field}: {first.get('msg', 'invalid')}",
            field=field,
            problems=[
                {"field": _field(p.get("loc", ())), "message": p.get("msg", "")}
                for p in problems[:20]
            ],
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        response = error_response(error.status_code, code, str(error.detail))
        response.headers.update(error.headers or {})  # e.g. Allow on 405
        return response
